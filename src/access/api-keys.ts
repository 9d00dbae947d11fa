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

/**
 * How long a key found live is taken as live without asking the store again. A key revoked in
 * this process is refused at once (the revocation drops it here); one revoked by another process
 * (the CLI, another API instance) is refused by this one at most this long after.
 */
export const VERIFIED_KEY_TTL_MS = 1_000;

interface Verified {
  record: ApiKeyRecord;
  /** Epoch ms after which the store is asked again. */
  until: number;
}

/** Live keys by hash, per key repository: only keys the store answered live are kept. */
const verifiedKeys = new WeakMap<KeyStore['apiKeys'], Map<string, Verified>>();

function verifiedOf(store: KeyStore): Map<string, Verified> {
  let verified = verifiedKeys.get(store.apiKeys);
  if (!verified) {
    verified = new Map();
    verifiedKeys.set(store.apiKeys, verified);
  }
  return verified;
}

/** The live key with this hash: from the last `VERIFIED_KEY_TTL_MS`, else from the store. */
async function liveKey(store: KeyStore, hash: string, now: number): Promise<ApiKeyRecord> {
  const verified = verifiedOf(store);
  const known = verified.get(hash);
  if (known && now < known.until) return known.record;
  verified.delete(hash);
  const record = await store.apiKeys.findByHash(hash);
  if (!record || record.revokedAt !== null)
    throw new BridgeError('unauthorized', 'unknown or revoked API key');
  verified.set(hash, { record, until: now + VERIFIED_KEY_TTL_MS });
  return record;
}

/** The live key whose secret this is; `unauthorized` for a missing, unknown or revoked one. */
export async function checkApiKey(
  store: KeyStore,
  clock: Clock,
  secret: string | undefined,
): Promise<ApiKeyRecord> {
  if (!secret)
    throw new BridgeError('unauthorized', 'an API key is required: Authorization: Bearer fbk_…');
  const now = clock.now();
  const record = await liveKey(store, sha256Hex(secret), now);
  // Kept to the minute: a store write on every request queued each call behind the others'.
  if (record.lastUsedAt === null || now - record.lastUsedAt >= KEY_USE_RESOLUTION_MS) {
    await store.apiKeys.touch(record.id, now);
    record.lastUsedAt = now;
  }
  return record;
}

/** Drops a key from this process's verified keys, so that its revocation holds at once here. */
function forgetVerified(store: KeyStore, id: string): void {
  const verified = verifiedOf(store);
  for (const [hash, { record }] of verified) if (record.id === id) verified.delete(hash);
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
  forgetVerified(store, id);
  const revoked = (await store.apiKeys.list()).find((k) => k.id === id);
  if (!revoked) throw new BridgeError('not_found', `no live API key "${id}"`);
  return revoked;
}
