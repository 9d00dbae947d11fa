// The public face of a keyring: the RSA public JWK of a key, its kid, and the JWKS that healow
// fetches from our registered JWKS URL. Only public members ever leave this file.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import type { StoredKey } from '../store/port.ts';

/** healow accepts RS384 only for the client_assertion, so every published key says `alg: RS384`. */
export const SIGNING_ALG = 'RS384';

export interface RsaPublicJwk {
  kty: 'RSA';
  n: string;
  e: string;
  kid: string;
  alg: typeof SIGNING_ALG;
  use: 'sig';
}

export interface Jwks {
  keys: RsaPublicJwk[];
}

/**
 * The public JWK of an RSA private key; `kid` is its RFC 7638 SHA-256 thumbprint, so it is
 * stable across restarts and imports and needs no bookkeeping.
 */
export async function publicJwkOf(privateKey: KeyObject): Promise<RsaPublicJwk> {
  const { n, e } = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof n !== 'string' || typeof e !== 'string') {
    throw new TypeError('not an RSA key');
  }
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n, e }, 'sha256');
  return { kty: 'RSA', n, e, kid, alg: SIGNING_ALG, use: 'sig' };
}

/**
 * The JWKS document for the given (published) keys. Members are picked one by one rather than
 * copied, so a private member can never reach the JWKS whatever a stored row holds.
 */
export function toJwks(keys: readonly StoredKey[]): Jwks {
  return {
    keys: keys.map((key) => ({
      kty: 'RSA',
      n: String(key.publicJwk.n),
      e: String(key.publicJwk.e),
      kid: key.kid,
      alg: SIGNING_ALG,
      use: 'sig',
    })),
  };
}
