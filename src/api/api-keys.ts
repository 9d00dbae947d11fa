// API keys for the app's backend: `fbk_<random>`, shown once at creation, stored as SHA-256.
import type { FastifyRequest } from 'fastify';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { sha256Hex } from '../common/hash.ts';
import { randomId, randomToken } from '../common/random.ts';
import type { ApiKeyRecord, Store } from '../store/port.ts';

export async function createApiKey(
  store: Store,
  clock: Clock,
  name: string,
): Promise<{ record: ApiKeyRecord; secret: string }> {
  const secret = `fbk_${randomToken(32)}`;
  const record: ApiKeyRecord = {
    id: randomId('key', 8),
    name,
    hash: sha256Hex(secret),
    createdAt: clock.now(),
    lastUsedAt: null,
    revokedAt: null,
  };
  await store.apiKeys.insert(record);
  return { record, secret };
}

/** Checks `Authorization: Bearer fbk_…`; answers 401 for a missing, unknown or revoked key. */
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
  await store.apiKeys.touch(record.id, clock.now());
  return record;
}
