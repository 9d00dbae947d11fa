// The store's folder and files are created private, and a wider mode found at start is named in
// a warning.
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { warnWiderThanPrivate } from '../cli/start.ts';
import type { Logger } from '../common/logger.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { apiKey } from '../store/store.contract.ts';
import { privatePathsOf, widerThanPrivate } from './private-files.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-modes-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const modeOf = (path: string) => statSync(path).mode & 0o777;

async function storeIn(dataDir: string) {
  const path = join(dataDir, 'fhirbridge.db');
  const store = await openSqliteStore({ path });
  await store.apiKeys.insert(apiKey()); // a write: the WAL and SHM exist from here on
  return { store, path };
}

describe('the SQLite store’s files', () => {
  it('are created private: the folder 0700, the database, its WAL and SHM 0600', async () => {
    const dataDir = join(root, 'fresh', 'data');
    const { store, path } = await storeIn(dataDir);
    try {
      expect(modeOf(dataDir)).toBe(0o700);
      expect(modeOf(path)).toBe(0o600);
      expect(modeOf(`${path}-wal`)).toBe(0o600);
      expect(modeOf(`${path}-shm`)).toBe(0o600);
      expect(widerThanPrivate(privatePathsOf({ dataDir, store: { kind: 'sqlite' } }))).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('are checked at start: a wider mode is a warning naming the path', async () => {
    const dataDir = join(root, 'restored', 'data');
    const { store, path } = await storeIn(dataDir);
    await store.close();
    chmodSync(dataDir, 0o755);
    chmodSync(path, 0o644);
    const warn = vi.fn();
    const count = warnWiderThanPrivate({ dataDir, store: { kind: 'sqlite' } }, {
      warn,
    } as unknown as Logger);
    expect(count).toBe(2);
    expect(warn.mock.calls.map((call) => call[1])).toEqual([
      `${dataDir} has mode 755: other users may read patient records; chmod 700 ${dataDir}`,
      `${path} has mode 644: other users may read patient records; chmod 600 ${path}`,
    ]);
    expect(warn.mock.calls.map((call) => call[0])).toEqual([
      { path: dataDir, mode: '755', expected: '700' },
      { path, mode: '644', expected: '600' },
    ]);
  });
});
