// The authorization server's own id_token signing keys, published at `/oauth/oauth2/jwks`.
// healow rotates them; after a rotation the old key stays published for a while so that
// id_tokens signed just before still verify.

import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { SimClock } from '../context.ts';

/** healow's id_token alg is not documented; RS256 is what OpenID Connect requires every OP to support. */
export const ID_TOKEN_ALG = 'RS256';

/** How long a retired key stays in the JWKS after a rotation (simulator clock). */
export const RETIRED_KEY_RETENTION_MS = 24 * 60 * 60 * 1000;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  /** Epoch ms when a newer key replaced it; undefined for the current key. */
  retiredAt?: number;
}

export interface SigningKeys {
  /** The public JWKS: the current key and the retired keys still within retention. */
  jwks(): { keys: JWK[] };
  /** Signs claims as a JWT with the current key (header alg, kid, typ JWT). */
  sign(claims: Record<string, unknown>): Promise<string>;
  /** Makes a new current key; the old one stays published for RETIRED_KEY_RETENTION_MS. Returns the new kid. */
  rotate(): Promise<string>;
  currentKid(): string;
}

async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(ID_TOKEN_ALG, { extractable: true });
  const exported = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exported, 'sha256');
  return {
    kid,
    privateKey,
    publicJwk: {
      kty: exported.kty,
      n: exported.n,
      e: exported.e,
      kid,
      alg: ID_TOKEN_ALG,
      use: 'sig',
    },
  };
}

export async function createSigningKeys(clock: SimClock): Promise<SigningKeys> {
  let keys: SigningKey[] = [await generateSigningKey()];
  const current = (): SigningKey => keys[0]!;
  const live = (): SigningKey[] => {
    const now = clock.now();
    keys = keys.filter(
      (k) => k.retiredAt === undefined || now - k.retiredAt < RETIRED_KEY_RETENTION_MS,
    );
    return keys;
  };
  return {
    jwks: () => ({ keys: live().map((k) => ({ ...k.publicJwk })) }),
    async sign(claims) {
      const key = current();
      return new SignJWT(claims)
        .setProtectedHeader({ alg: ID_TOKEN_ALG, kid: key.kid, typ: 'JWT' })
        .sign(key.privateKey);
    },
    async rotate() {
      const next = await generateSigningKey();
      current().retiredAt = clock.now();
      keys = [next, ...live()];
      return next.kid;
    },
    currentKid: () => current().kid,
  };
}
