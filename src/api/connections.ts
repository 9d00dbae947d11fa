// The JSON API for the app's backend: start a connection, read its state, forget it.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  decodeCursor,
  encodeCursor,
  listConnections,
  parseStates,
} from '../access/connection-list.ts';
import { storedUserRef } from '../access/ownership.ts';
import { BridgeError } from '../common/errors.ts';
import { parse } from '../common/validate.ts';
import type { Config } from '../config/schema.ts';
import type { PracticeRegistry } from '../practices/registry.ts';
import type { Store } from '../store/port.ts';
import type { Vault } from '../vault/index.ts';
import { callerOf } from './api-keys.ts';
import { zodRoute } from './openapi.ts';
import { viewFor } from './ownership.ts';
import { checkReturnTo } from './return-to.ts';

const createBody = z.object({
  practice: z.string().min(1).max(128),
  userRef: z.string().min(1).max(256),
  returnTo: z.string().max(2048).optional(),
});

const deleteQuery = z.object({ keep: z.literal('record').optional() }).strict();

const reconnectBody = z.object({ returnTo: z.string().max(2048).optional() }).strict();

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).optional(),
  /** From the last page's nextCursor; not with offset. */
  cursor: z.string().max(512).optional(),
  /** One state or several, comma-separated. */
  state: z
    .string()
    .regex(/^[a-z_]+(,[a-z_]+)*$/, 'is not a state list')
    .optional(),
  /** A practice id. */
  practice: z.string().min(1).max(128).optional(),
  userRef: z.string().min(1).max(256).optional(),
});

const idParams = z.object({
  id: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/, 'is not a connection id'),
});

export interface ConnectionRouteDeps {
  config: Pick<Config, 'returnToAllowList'>;
  store: Store;
  vault: Vault;
  practices: PracticeRegistry;
}

export function registerConnectionRoutes(app: FastifyInstance, deps: ConnectionRouteDeps): void {
  const { vault, config } = deps;

  app.post('/api/connections', zodRoute({ body: createBody }), async (request, reply) => {
    if (request.body === undefined || request.body === null) {
      throw new BridgeError(
        'invalid_request',
        'a JSON body is required (Content-Type: application/json)',
      );
    }
    const body = parse(createBody, request.body, 'body');
    const returnTo =
      body.returnTo === undefined
        ? undefined
        : checkReturnTo(body.returnTo, config.returnToAllowList);
    const { connection, launchUrl } = await vault.start({
      practice: body.practice,
      userRef: storedUserRef(callerOf(request), body.userRef),
      returnTo,
    });
    return reply.code(201).send({
      id: connection.id,
      authorizeUrl: launchUrl,
      connection: viewFor(request, connection),
    });
  });

  // The caller's connections only: an app key lists its app's, an admin key every one.
  app.get('/api/connections', zodRoute({ querystring: listQuery }), async (request) => {
    const query = parse(listQuery, request.query, 'query');
    if (query.offset !== undefined && query.cursor !== undefined) {
      throw new BridgeError(
        'invalid_request',
        'invalid query: offset and cursor cannot be combined',
      );
    }
    const states = query.state === undefined ? undefined : parseStates(query.state);
    const practice =
      query.practice === undefined ? undefined : await deps.practices.get(query.practice);
    // An unknown practice has no connections.
    const page =
      query.practice !== undefined && !practice
        ? { connections: [], next: null }
        : await listConnections(deps.store, callerOf(request), {
            limit: query.limit,
            ...(query.offset === undefined ? {} : { offset: query.offset }),
            ...(query.cursor === undefined ? {} : { cursor: decodeCursor(query.cursor) }),
            filter: {
              ...(states ? { states } : {}),
              ...(practice ? { practiceBase: practice.base } : {}),
              ...(query.userRef === undefined ? {} : { userRef: query.userRef }),
            },
          });
    return {
      connections: page.connections.map((c) => viewFor(request, c)),
      limit: query.limit,
      ...(query.offset === undefined ? {} : { offset: query.offset }),
      nextCursor: page.next ? encodeCursor(page.next) : null,
    };
  });

  app.get('/api/connections/:id', zodRoute({ params: idParams }), async (request) => {
    const { id } = parse(idParams, request.params, 'path');
    return viewFor(request, await vault.get(id));
  });

  // Deleting a connection forgets its record too, unless the app asks to keep it
  // (`?keep=record`): what was synced stays readable and exportable, the tokens are gone.
  const deleteSchema = { params: idParams, querystring: deleteQuery };
  app.delete('/api/connections/:id', zodRoute(deleteSchema), async (request, reply) => {
    const { id } = parse(idParams, request.params, 'path');
    const { keep } = parse(deleteQuery, request.query, 'query');
    await vault.disconnect(id, { keepRecord: keep === 'record' });
    return reply.code(204).send();
  });

  // A new launch for the same user at the same practice: how an app brings back a connection
  // that is declined, revoked, expired or needs reauthorization (the link its events carry).
  const reconnectSchema = { params: idParams, body: reconnectBody };
  app.post('/api/connections/:id/reconnect', zodRoute(reconnectSchema), async (request, reply) => {
    const { id } = parse(idParams, request.params, 'path');
    const body = parse(reconnectBody, request.body ?? {}, 'body');
    const returnTo =
      body.returnTo === undefined
        ? undefined
        : checkReturnTo(body.returnTo, config.returnToAllowList);
    const { connection, launchUrl } = await vault.reconnect(id, returnTo);
    return reply.code(201).send({
      id: connection.id,
      authorizeUrl: launchUrl,
      connection: viewFor(request, connection),
    });
  });

  app.post('/api/connections/:id/refresh', zodRoute({ params: idParams }), async (request) => {
    const { id } = parse(idParams, request.params, 'path');
    return viewFor(request, await vault.refresh(id, { force: true }));
  });
}
