// Reading a connection's synced record from the store, never upstream: one type's resources a
// page at a time, and single resources, each as the text the EHR sent.
import { BridgeError } from '../common/errors.ts';
import type { ResourceQuery, Store, StoredResource } from '../store/port.ts';

type RecordStore = Pick<Store, 'connections' | 'resources'>;

/** `not_found` unless the connection exists: an unknown one has no record, not an empty one. */
export async function requireConnection(
  store: Pick<Store, 'connections'>,
  connectionId: string,
): Promise<void> {
  if (!(await store.connections.get(connectionId))) {
    throw new BridgeError('not_found', `unknown connection "${connectionId}"`);
  }
}

export interface RecordPage {
  resources: StoredResource[];
  /** The id the next page starts after; null on the last page. */
  nextAfter: string | null;
}

/** Up to `query.limit` resources of one type, and whether (and where) another page follows. */
export async function searchRecord(store: RecordStore, query: ResourceQuery): Promise<RecordPage> {
  await requireConnection(store, query.connectionId);
  // One more than asked tells whether a next page exists.
  const rows = await store.resources.list({ ...query, limit: query.limit + 1 });
  const resources = rows.slice(0, query.limit);
  const last = resources.at(-1);
  return { resources, nextAfter: rows.length > query.limit && last ? last.id : null };
}

/** One stored resource; `not_found` when the record does not hold it. */
export async function readResource(
  store: Pick<Store, 'resources'>,
  connectionId: string,
  type: string,
  id: string,
): Promise<StoredResource> {
  const row = await store.resources.get(connectionId, type, id);
  if (!row) throw new BridgeError('not_found', `${type}/${id} is not in the record`);
  return row;
}
