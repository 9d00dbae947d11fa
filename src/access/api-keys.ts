// API keys for the app's backend: `fbk_<random>`, shown once at creation, stored as SHA-256.
// A key belongs to an app (its name) and has a role: `app` keys act on their app's connections,
// `admin` keys also on the operator's routes. One set of rules for the CLI and the API.
import { z } from 'zod';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { sha256Hex } from '../common/hash.ts';
import { randomId, randomToken } from '../common/random.ts';
import { parse } from '../common/validate.ts';
import type { ApiKeyRecord, ApiKeyRole, Store } from '../store/port.ts';

export const API_KEY_ROLES = ['app', 'admin'] as const satisfies readonly ApiKeyRole[];

/** No `:` in a name: an app's connections are told apart by `app:<name>:` before their userRef. */
export const newApiKeySchema = z.object({
  name: z
    .string({ error: 'must be a string' })
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      'must be 1-64 of [A-Za-z0-9._-], starting with a letter or digit',
    ),
  role: z.enum(API_KEY_ROLES, { error: 'must be app or admin' }),
});

type KeyStore = Pick<Store, 'apiKeys'>;

/**
 * Creates a key after checking the name and role, so the CLI and the API refuse the same input
 * with the same message; the secret exists only in the answer. The CLI and the API default to
 * `app`; a caller naming no role gets `admin`, what every key was before roles, so that scripts
 * written before them keep working.
 */
export async function createApiKey(
  store: KeyStore,
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

/** How fresh a key's `lastUsedAt` is kept: it is written at most once per this period. */
export const KEY_USE_RESOLUTION_MS = 60_000;

/** The live key whose secret this is; `unauthorized` for a missing, unknown or revoked one. */
export async function checkApiKey(
  store: KeyStore,
  clock: Clock,
  secret: string | undefined,
): Promise<ApiKeyRecord> {
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

/** Every key, live and revoked (hashes only: no secret is kept). */
export function listApiKeys(store: KeyStore): Promise<ApiKeyRecord[]> {
  return store.apiKeys.list();
}

/** Revokes a live key and answers it as it now stands; `not_found` for an unknown or revoked id. */
export async function revokeApiKey(
  store: KeyStore,
  clock: Clock,
  id: string,
): Promise<ApiKeyRecord> {
  if (!(await store.apiKeys.revoke(id, clock.now())))
    throw new BridgeError('not_found', `no live API key "${id}"`);
  const revoked = (await store.apiKeys.list()).find((k) => k.id === id);
  if (!revoked) throw new BridgeError('not_found', `no live API key "${id}"`);
  return revoked;
}
