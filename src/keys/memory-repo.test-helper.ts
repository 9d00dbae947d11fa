// An in-memory KeyRepository for the key tests: rows are copied in and out, as a database would.
import type { KeyRepository, StoredKey } from '../store/port.ts';

export interface MemoryKeyRepository extends KeyRepository {
  /** Every stored row, as stored (for tests that inspect what reached the store). */
  rows(): StoredKey[];
}

export function createMemoryKeyRepository(): MemoryKeyRepository {
  const byKid = new Map<string, StoredKey>();
  return {
    async list(keyring) {
      return [...byKid.values()].filter((key) => key.keyring === keyring).map(copy);
    },
    async put(key) {
      byKid.set(key.kid, copy(key));
    },
    async delete(kid) {
      byKid.delete(kid);
    },
    rows: () => [...byKid.values()].map(copy),
  };
}

const copy = (key: StoredKey): StoredKey => structuredClone(key);
