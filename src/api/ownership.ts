// A connection as the calling API key sees it. Which connections a key may see and act on is
// decided in access/ownership.ts; this is its HTTP edge.
import type { FastifyRequest } from 'fastify';
import { callersUserRef } from '../access/ownership.ts';
import type { ConnectionRecord } from '../store/port.ts';
import { type ConnectionView, viewConnection } from '../vault/index.ts';
import { callerOf } from './api-keys.ts';

/** The connection as its caller sees it: an app gets its own userRef back. */
export function viewFor(request: FastifyRequest, connection: ConnectionRecord): ConnectionView {
  const view = viewConnection(connection);
  return { ...view, userRef: callersUserRef(callerOf(request), view.userRef) };
}
