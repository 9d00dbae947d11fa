// What only the SQLite adapter of the resources port has: iteration over a second read-only
// connection for files (one snapshot, the writer stays free) and in keyset batches for :memory:.
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../port.ts';
import { resourceWrite } from '../resources.contract.ts';
import { connection } from '../store.contract.ts';
import { openSqliteStore } from './index.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-sqlite-resources-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const opened: Store[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

async function storeWith(path: string, count: number): Promise<Store> {
  const store = await openSqliteStore({ path });
  opened.push(store);
  await store.connections.insert(connection({ id: 'con_1' }));
  const resources = Array.from({ length: count }, (_, i) =>
    resourceWrite({
      type: i % 3 ? 'Observation' : 'Condition',
      id: `r-${String(i).padStart(5, '0')}`,
    }),
  );
  await store.resources.savePage({
    connectionId: 'con_1',
    practiceBase: 'https://ehr.example/fhir',
    fetchedAt: 1,
    source: 'x',
    sweep: null,
    resources,
  });
  return store;
}

async function keys(store: Store, type?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const r of store.resources.iterate('con_1', type === undefined ? {} : { type })) {
    out.push(`${r.type}/${r.id}`);
  }
  return out;
}

describe('sqlite resources iteration', () => {
  it(':memory: iterates in batches, past the batch size, in type then id order', async () => {
    const store = await storeWith(':memory:', 1234);
    const all = await keys(store);
    expect(all).toHaveLength(1234);
    expect(all).toEqual([...all].sort());
    expect(await keys(store, 'Condition')).toHaveLength(412);
  });

  it('a file iterates one snapshot: rows written meanwhile are not seen, and nothing blocks', async () => {
    const store = await storeWith(join(mkdtempSync(join(root, 'f-')), 'store.db'), 1200);
    let seen = 0;
    for await (const _ of store.resources.iterate('con_1')) {
      if (seen++ === 10) {
        await store.resources.savePage({
          connectionId: 'con_1',
          practiceBase: 'https://ehr.example/fhir',
          fetchedAt: 2,
          source: 'x',
          sweep: null,
          resources: [resourceWrite({ id: 'zz-late' })],
        });
      }
    }
    expect(seen).toBe(1200);
    expect(await keys(store, 'Observation')).toContain('Observation/zz-late');
  });

  it('breaking out of a file iteration releases its connection', async () => {
    const path = join(mkdtempSync(join(root, 'f-')), 'store.db');
    const store = await storeWith(path, 50);
    // Open file descriptors on the database file (Linux): a leaked reader keeps one each.
    const openOnFile = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === path;
        } catch {
          return false;
        }
      }).length;
    const before = openOnFile();
    for (let i = 0; i < 20; i++) {
      for await (const _ of store.resources.iterate('con_1')) break;
    }
    // SQLite may keep one closed connection's descriptor until the last connection to the file
    // closes (POSIX locks are per process), so one is allowed, not one per iteration.
    expect(openOnFile()).toBeLessThanOrEqual(before + 1);
  });
});
