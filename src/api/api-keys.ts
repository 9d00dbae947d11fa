// API keys at the HTTP edge: the caller's key from `Authorization: Bearer fbk_…`, admin-only
// routes, and the key API. What a key is and how it is checked lives in access/api-keys.ts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { checkApiKey, createApiKey, listApiKeys, revokeApiKey } from '../access/api-keys.ts';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { parse } from '../common/validate.ts';
import type { ApiKeyRecord, Store } from '../store/port.ts';
import { zodRoute } from './openapi.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's key, set by the API-key scope's authentication. */
    apiKey?: ApiKeyRecord;
  }
  interface FastifyContextConfig {
    /** `admin`: the route is the operator's; an `app` key gets 403. */
    access?: 'admin';
  }
}

/** Checks `Authorization: Bearer fbk_…`; answers 401 for a missing, unknown or revoked key. */
export function authenticateApiKey(
  request: FastifyRequest,
  store: Pick<Store, 'apiKeys'>,
  clock: Clock,
): Promise<ApiKeyRecord> {
  const header = request.headers.authorization;
  const secret = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
  return checkApiKey(store, clock, secret);
}

/** The key of a request inside the API-key scope. */
export function callerOf(request: FastifyRequest): ApiKeyRecord {
  if (!request.apiKey) throw new BridgeError('unauthorized', 'an API key is required');
  return request.apiKey;
}

/** Admin routes (`config: { access: 'admin' }`) refuse app keys. */
export function assertAccess(request: FastifyRequest): void {
  if (request.routeOptions.config.access === 'admin' && callerOf(request).role !== 'admin') {
    throw new BridgeError('forbidden', 'this route needs an admin API key');
  }
}

export function viewApiKey(k: ApiKeyRecord) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: k.id,
    name: k.name,
    role: k.role,
    state: k.revokedAt === null ? 'active' : 'revoked',
    createdAt: new Date(k.createdAt).toISOString(),
    lastUsedAt: iso(k.lastUsedAt),
    revokedAt: iso(k.revokedAt),
  };
}

// Shape only: the values are checked by createApiKey, as for the CLI.
const keyBody = z
  .object({ name: z.unknown(), role: z.unknown().default('app') }, { error: 'must be an object' })
  .strict();
const keyIdParams = z.object({
  id: z.string().regex(/^key_[A-Za-z0-9_-]{4,64}$/, 'is not an API key id'),
});

/** The key API, for admin keys only: create (the secret is in this answer alone), list, revoke. */
export function registerApiKeyRoutes(
  app: FastifyInstance,
  { store, clock }: { store: Pick<Store, 'apiKeys'>; clock: Clock },
): void {
  const admin = { config: { access: 'admin' as const } };
  app.post('/api/apikeys', { ...admin, ...zodRoute({ body: keyBody }) }, async (request, reply) => {
    const body = parse(keyBody, request.body, 'body');
    const { record, secret } = await createApiKey(store, clock, body.name, body.role);
    return reply.code(201).send({ ...viewApiKey(record), secret });
  });

  app.get('/api/apikeys', admin, async () => ({
    keys: (await listApiKeys(store)).map(viewApiKey),
  }));

  const revokeRoute = { ...admin, ...zodRoute({ params: keyIdParams }) };
  app.post('/api/apikeys/:id/revoke', revokeRoute, async (request) => {
    const { id } = parse(keyIdParams, request.params, 'path');
    return viewApiKey(await revokeApiKey(store, clock, id));
  });
}
