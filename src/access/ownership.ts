// Which connections an API key may see and act on. A connection made with an `app` key carries
// `app:<name>:` in front of the app's userRef: two apps' "user-42" stay two connections, and the
// owner is known from the row itself. Admin keys see every connection and keep userRefs as sent
// (keys made before roles are admin keys, and their users' reconnects must keep their ids).
import { BridgeError } from '../common/errors.ts';
import type { ApiKeyRecord, ConnectionRecord, Store } from '../store/port.ts';

/** Who is asking: the part of an API key that decides what it may see. */
export type Caller = Pick<ApiKeyRecord, 'name' | 'role'>;

/** The machine's operator (the command line): an admin, who sees every connection. */
export const OPERATOR: Caller = { name: 'operator', role: 'admin' };

const prefixOf = (key: Caller) => `app:${key.name}:`;

/** The connections the caller may see, newest first: an app's own, or every one for an admin. */
export function connectionsOf(
  store: Pick<Store, 'connections'>,
  key: Caller,
  page: { limit: number; offset: number },
): Promise<ConnectionRecord[]> {
  return store.connections.list(
    key.role === 'admin' ? page : { ...page, userRefPrefix: prefixOf(key) },
  );
}

/** The userRef stored for a connection the caller starts. */
export function storedUserRef(key: Caller, userRef: string): string {
  return key.role === 'admin' ? userRef : prefixOf(key) + userRef;
}

/** The userRef as the caller sent it: an app gets its own back, without the owner's prefix. */
export function callersUserRef(key: Caller, stored: string): string {
  const prefix = prefixOf(key);
  return key.role === 'app' && stored.startsWith(prefix) ? stored.slice(prefix.length) : stored;
}

export function isVisibleTo(key: Caller, connection: Pick<ConnectionRecord, 'userRef'>): boolean {
  return key.role === 'admin' || connection.userRef.startsWith(prefixOf(key));
}

/**
 * The connection if the caller may act on it. Another app's connection is `not_found` with the
 * same message as one that does not exist, so that ids cannot be probed.
 */
export async function connectionFor(
  store: Pick<Store, 'connections'>,
  key: Caller,
  id: string,
): Promise<ConnectionRecord> {
  const connection = await store.connections.get(id);
  if (!connection || !isVisibleTo(key, connection)) {
    throw new BridgeError('not_found', `unknown connection "${id}"`);
  }
  return connection;
}
