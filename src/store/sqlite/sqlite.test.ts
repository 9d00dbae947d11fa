// The SQLite adapter: the shared store contract on a real file, then what only SQLite has
// (pragmas, files, crash safety, several connections on one file).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../index.ts';
import type { Store } from '../port.ts';
import {
  authSession,
  connection,
  event,
  pendingConnection,
  storeContract,
} from '../store.contract.ts';
import { openDatabase } from './database.ts';
import { openSqliteStore } from './index.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-sqlite-'));
const here = fileURLToPath(new URL('.', import.meta.url));
/** A path in a new, empty folder: each store gets its own file. */
const freshPath = () => join(mkdtempSync(join(root, 't-')), 'store.db');

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

storeContract('sqlite (file)', () => openSqliteStore({ path: freshPath() }));

describe('sqlite store', () => {
  const opened: Store[] = [];
  const open = async (path: string) => {
    const store = await openSqliteStore({ path });
    opened.push(store);
    return store;
  };

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  it('sets WAL, foreign keys, a busy timeout and synchronous NORMAL', () => {
    const db = openDatabase({ path: freshPath() });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // 1 = NORMAL
    } finally {
      db.close();
    }
  });

  it('creates the missing parent folders of the file', async () => {
    const path = join(root, 'nested', 'deeper', 'fhirbridge.db');
    expect(existsSync(join(root, 'nested'))).toBe(false);
    await open(path);
    expect(existsSync(path)).toBe(true);
  });

  it('opens :memory: as a private database', async () => {
    const a = await open(':memory:');
    const b = await open(':memory:');
    await a.connections.insert(connection());
    expect(await a.connections.get('con_1')).toBeDefined();
    expect(await b.connections.get('con_1')).toBeUndefined();
  });

  it('openStore picks the sqlite adapter', async () => {
    const path = freshPath();
    const store = await openStore({ kind: 'sqlite', path });
    opened.push(store);
    await store.events.append(event());
    expect(await store.events.list({ limit: 1 })).toEqual([event()]);
    expect(existsSync(path)).toBe(true);
  });

  it('close closes the database and may be called twice', async () => {
    const store = await openSqliteStore({ path: freshPath() });
    await store.close();
    await store.close();
    await expect(store.connections.get('con_1')).rejects.toThrow(/not open/);
  });

  it('keeps the data across a close and a re-open', async () => {
    const path = freshPath();
    const first = await openSqliteStore({ path });
    await first.connections.insert(connection());
    await first.events.append(event());
    await first.events.append(event({ id: 'evt_2' }));
    await first.close();

    const second = await open(path);
    expect(await second.connections.get('con_1')).toEqual(connection());
    // The event sequence carries on after the re-open.
    await second.events.append(event({ id: 'evt_3' }));
    expect((await second.events.list({ after: 'evt_2', limit: 10 })).map((e) => e.id)).toEqual([
      'evt_3',
    ]);
  });

  it('keeps committed writes when the process dies without closing (no checkpoint)', async () => {
    const path = freshPath();
    const moduleUrl = pathToFileURL(join(here, 'index.ts')).href;
    // The child writes, then is SIGKILLed: no close, no checkpoint, the data lives in the WAL.
    const child = `
      const { openSqliteStore } = await import(${JSON.stringify(moduleUrl)});
      const store = await openSqliteStore({ path: ${JSON.stringify(path)} });
      await store.connections.insert(${JSON.stringify(connection())});
      await store.events.append(${JSON.stringify(event())});
      process.kill(process.pid, 'SIGKILL');
    `;
    const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', child],
        {
          cwd: join(here, '..', '..', '..'),
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      );
      proc.on('error', reject);
      proc.on('exit', (_code, sig) => resolve(sig));
    });
    expect(signal).toBe('SIGKILL');
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);

    const store = await open(path);
    expect(await store.connections.get('con_1')).toEqual(connection());
    expect(await store.events.list({ limit: 10 })).toEqual([event()]);
  });

  describe('two stores on one file (what two processes do)', () => {
    it("each sees the other's committed writes at once", async () => {
      const path = freshPath();
      const a = await open(path);
      const b = await open(path);
      await a.connections.insert(connection());
      expect(await b.connections.get('con_1')).toEqual(connection());
      await b.connections.update('con_1', { state: 'revoked', updatedAt: 5 });
      expect((await a.connections.get('con_1'))?.state).toBe('revoked');
      await b.events.append(event());
      await a.events.append(event({ id: 'evt_2' }));
      expect((await b.events.list({ limit: 10 })).map((e) => e.id)).toEqual(['evt_1', 'evt_2']);
    });

    it('compare-and-set lets only one of them store a refreshed token set', async () => {
      const path = freshPath();
      const a = await open(path);
      const b = await open(path);
      await a.connections.insert(connection({ tokenVersion: 1 }));

      // Both read version 1 and refresh; the first write wins, the second sees it lost.
      const seenByA = await a.connections.get('con_1');
      const seenByB = await b.connections.get('con_1');
      expect(seenByA?.tokenVersion).toBe(1);
      expect(seenByB?.tokenVersion).toBe(1);
      expect(
        await a.connections.update('con_1', { sealedTokens: 'from-a', tokenVersion: 2 }, 1),
      ).toBe(true);
      expect(
        await b.connections.update('con_1', { sealedTokens: 'from-b', tokenVersion: 2 }, 1),
      ).toBe(false);

      const final = await b.connections.get('con_1');
      expect(final?.sealedTokens).toBe('from-a');
      expect(final?.tokenVersion).toBe(2);
    });

    it('a state taken by one cannot be taken by the other', async () => {
      const path = freshPath();
      const a = await open(path);
      const b = await open(path);
      await a.connections.insert(pendingConnection());
      await a.authSessions.put(authSession());
      expect(await b.authSessions.take('state-hash-1')).toEqual(authSession());
      expect(await a.authSessions.take('state-hash-1')).toBeUndefined();
    });
  });
});
