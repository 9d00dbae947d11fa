// Which connections an API key may see and act on. A connection made with an `app` key carries
// `app:<name>:` in front of the app's userRef: two apps' "user-42" stay two connections, and the
// owner is known from the row itself. Admin keys see every connection and keep userRefs as sent
// (keys made before roles are admin keys, and their users' reconnects must keep their ids).
import type { FastifyRequest } from 'fastify';
import { BridgeError } from '../common/errors.ts';
import type { ApiKeyRecord, ConnectionRecord, Store } from '../store/port.ts';
import { type ConnectionView, viewConnection } from '../vault/index.ts';
import { callerOf } from './api-keys.ts';

type Caller = Pick<ApiKeyRecord, 'name' | 'role'>;

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

/** The connection as its caller sees it: an app gets its own userRef back. */
export function viewFor(request: FastifyRequest, connection: ConnectionRecord): ConnectionView {
  const key = callerOf(request);
  const view = viewConnection(connection);
  const prefix = prefixOf(key);
  return key.role === 'app' && view.userRef.startsWith(prefix)
    ? { ...view, userRef: view.userRef.slice(prefix.length) }
    : view;
}
