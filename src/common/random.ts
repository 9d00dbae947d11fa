// The one source of randomness for security values (state, PKCE verifiers, ids, nonces).
import { randomBytes } from 'node:crypto';

/** `bytes` random bytes as base64url: 32 bytes = 256 bits, the default for state and verifiers. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** A prefixed opaque id, e.g. `con_…`. */
export function randomId(prefix: string, bytes = 16): string {
  return `${prefix}_${randomBytes(bytes).toString('base64url')}`;
}
