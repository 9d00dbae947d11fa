// Fetches an asymmetric client's JWKS from its registered URL, and only from it: healow
// allow-lists the URL itself, so headers such as `jku` are never followed and redirects are
// refused. Cached; refetched once when an assertion names a kid the cache does not know.

import type { JWK } from 'jose';
import { z } from 'zod';
import type { SimClock } from '../context.ts';

const jwksSchema = z.object({
  keys: z.array(z.looseObject({ kty: z.string(), kid: z.string().optional() })),
});

export type KeyLookup = { key: JWK } | { error: 'jwks_unreachable' | 'kid_unknown' };

export interface ClientJwksCache {
  /** The key with this kid from the JWKS at `url` (the registered URL). */
  keyFor(url: string, kid: string): Promise<KeyLookup>;
}

export interface ClientJwksOptions {
  clock: SimClock;
  /** Re-read a cached JWKS after this long even without an unknown kid. */
  ttlMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export function createClientJwksCache({
  clock,
  ttlMs = 5 * 60_000,
  timeoutMs = 5_000,
  fetch: fetchImpl = fetch,
}: ClientJwksOptions): ClientJwksCache {
  const cache = new Map<string, { keys: JWK[]; fetchedAt: number }>();

  const load = async (url: string): Promise<JWK[] | undefined> => {
    try {
      const response = await fetchImpl(url, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) return undefined;
      const parsed = jwksSchema.safeParse(await response.json());
      if (!parsed.success) return undefined;
      const keys = parsed.data.keys as JWK[];
      cache.set(url, { keys, fetchedAt: clock.now() });
      return keys;
    } catch {
      return undefined;
    }
  };

  const find = (keys: JWK[], kid: string): JWK | undefined => keys.find((k) => k.kid === kid);

  return {
    async keyFor(url, kid) {
      const cached = cache.get(url);
      if (cached && clock.now() - cached.fetchedAt < ttlMs) {
        const key = find(cached.keys, kid);
        if (key) return { key };
      }
      // Unknown kid or stale cache: one fetch, then give up.
      const keys = await load(url);
      if (!keys) return { error: 'jwks_unreachable' };
      const key = find(keys, kid);
      return key ? { key } : { error: 'kid_unknown' };
    },
  };
}
