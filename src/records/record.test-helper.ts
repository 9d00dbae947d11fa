// A small synced record for tests of what reads or exports it: connection con_1 at JAFJCD with
// two Observations (o1, o2) and a Patient (p1), as the store contract's resourceWrite makes them.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../common/clock.ts';
import type { Store } from '../store/port.ts';
import { resourceWrite } from '../store/resources.contract.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { connection } from '../store/store.contract.ts';

export const RECORD_BASE = 'https://fhir4.healow.com/fhir/r4/JAFJCD';

export async function seedRecord(store: Store): Promise<void> {
  await store.connections.insert(connection({ id: 'con_1' }));
  await store.resources.savePage({
    connectionId: 'con_1',
    practiceBase: RECORD_BASE,
    fetchedAt: 1,
    source: 'x',
    sweep: null,
    resources: [
      resourceWrite({ id: 'o1' }),
      resourceWrite({ id: 'o2' }),
      resourceWrite({ type: 'Patient', id: 'p1' }),
    ],
  });
}

/** A SQLite store in a new folder under `root`, holding that record, and a clock at 2026-01-01. */
export async function openRecord(root: string): Promise<{ store: Store; clock: ManualClock }> {
  const store = await openSqliteStore({ path: join(mkdtempSync(join(root, 'db-')), 'store.db') });
  await seedRecord(store);
  return { store, clock: new ManualClock(Date.UTC(2026, 0, 1)) };
}
