// Writes that must win over a refresh running elsewhere (a reconnect, a disconnect): computed
// from the current row and applied by compare-and-set on tokenVersion with a new version, so a
// refresh that was in flight cannot write its tokens back over them afterwards (its own
// compare-and-set then fails).
import { BridgeError } from '../common/errors.ts';
import type { ConnectionPatch, ConnectionRecord, Store } from '../store/port.ts';

const ATTEMPTS = 5;

export async function updateByVersion(
  store: Store,
  id: string,
  makePatch: (current: ConnectionRecord) => ConnectionPatch,
): Promise<ConnectionRecord> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const current = await store.connections.get(id);
    if (!current) throw new BridgeError('not_found', `unknown connection "${id}"`);
    const patch = {
      ...makePatch(current),
      tokenVersion: current.tokenVersion + 1,
      refreshLeaseUntil: null,
    };
    if (await store.connections.update(id, patch, current.tokenVersion))
      return { ...current, ...patch };
  }
  throw new BridgeError('conflict', `connection ${id} kept changing; try again`);
}
