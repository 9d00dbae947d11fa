// API keys for the app's backend: `fbk_<random>`, shown once at creation, stored as SHA-256.
// A key belongs to an app (its name) and has a role: `app` keys act on their app's connections,
// `admin` keys also on the operator's routes. The key API lives here too.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { sha256Hex } from '../common/hash.ts';
import { randomId, randomToken } from '../common/random.ts';
import type { ApiKeyRecord, ApiKeyRole, Store } from '../store/port.ts';
import { parse } from './connections.ts';
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

export const API_KEY_ROLES = ['app', 'admin'] as const satisfies readonly ApiKeyRole[];

/**
 * One rule for the CLI and the API. No `:` in a name: an app's connections are told apart by
 * `app:<name>:` in front of their userRef (ownership.ts).
 */
export const newApiKeySchema = z.object({
  name: z
    .string({ error: 'must be a string' })
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      'must be 1-64 of [A-Za-z0-9._-], starting with a letter or digit',
    ),
  role: z.enum(API_KEY_ROLES, { error: 'must be app or admin' }),
});

/**
 * Creates a key after checking the name and role (one check for the CLI and the API, so both
 * refuse the same input with the same message); the secret exists only in the answer. The CLI
 * and the API default to `app`; a caller naming no role gets `admin`, what every key was
 * before roles, so that scripts written before them keep working.
 */
export async function createApiKey(
  store: Store,
  clock: Clock,
  name: unknown,
  role: unknown = 'admin',
): Promise<{ record: ApiKeyRecord; secret: string }> {
  const checked = parse(newApiKeySchema, { name, role }, 'API key');
  const secret = `fbk_${randomToken(32)}`;
  const record: ApiKeyRecord = {
    id: randomId('key', 8),
    name: checked.name,
    role: checked.role,
    hash: sha256Hex(secret),
    createdAt: clock.now(),
    lastUsedAt: null,
    revokedAt: null,
  };
  await store.apiKeys.insert(record);
  return { record, secret };
}

/** Checks `Authorization: Bearer fbk_…`; answers 401 for a missing, unknown or revoked key. */
/** How fresh a key's `lastUsedAt` is kept: it is written at most once per this period. */
export const KEY_USE_RESOLUTION_MS = 60_000;

export async function authenticateApiKey(
  request: FastifyRequest,
  store: Store,
  clock: Clock,
): Promise<ApiKeyRecord> {
  const header = request.headers.authorization;
  const secret = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
  if (!secret)
    throw new BridgeError('unauthorized', 'an API key is required: Authorization: Bearer fbk_…');
  const record = await store.apiKeys.findByHash(sha256Hex(secret));
  if (!record || record.revokedAt !== null)
    throw new BridgeError('unauthorized', 'unknown or revoked API key');
  // Kept to the minute: a store write on every request queued each call behind the others'.
  const now = clock.now();
  if (record.lastUsedAt === null || now - record.lastUsedAt >= KEY_USE_RESOLUTION_MS) {
    await store.apiKeys.touch(record.id, now);
  }
  return record;
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
  { store, clock }: { store: Store; clock: Clock },
): void {
  const admin = { config: { access: 'admin' as const } };
  app.post('/api/apikeys', { ...admin, ...zodRoute({ body: keyBody }) }, async (request, reply) => {
    const body = parse(keyBody, request.body, 'body');
    const { record, secret } = await createApiKey(store, clock, body.name, body.role);
    return reply.code(201).send({ ...viewApiKey(record), secret });
  });

  app.get('/api/apikeys', admin, async () => ({
    keys: (await store.apiKeys.list()).map(viewApiKey),
  }));

  const revokeRoute = { ...admin, ...zodRoute({ params: keyIdParams }) };
  app.post('/api/apikeys/:id/revoke', revokeRoute, async (request) => {
    const { id } = parse(keyIdParams, request.params, 'path');
    if (!(await store.apiKeys.revoke(id, clock.now())))
      throw new BridgeError('not_found', `no live API key "${id}"`);
    const revoked = (await store.apiKeys.list()).find((k) => k.id === id);
    return revoked ? viewApiKey(revoked) : { id };
  });
}
