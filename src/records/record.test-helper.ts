// A small synced record for tests of what reads or exports it: connection con_1 at JAFJCD with
// two Observations (o1, o2) and a Patient (p1), as the store contract's resourceWrite makes them.
import { connection } from '../store/contract.ts';
import { resourceWrite } from '../store/contract-resources.ts';
import type { Store } from '../store/port.ts';

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
