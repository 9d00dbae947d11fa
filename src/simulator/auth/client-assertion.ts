// Verifies a `private_key_jwt` client assertion (RFC 7523 §3, SMART App Launch
// "client-confidential-asymmetric") as strictly as healow: RS384 only, typ JWT, kid required and
// in the registered JWKS, iss = sub = client_id, aud = the token URL, exp not past and at most
// five minutes ahead, jti never seen before.

import { compactVerify, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import type { AssertionFailureReason, SimClock } from '../context.ts';
import type { ClientJwksCache } from './client-jwks.ts';

export const ASSERTION_ALG = 'RS384';
/** SMART: "exp ... no more than five minutes in the future". */
export const MAX_ASSERTION_LIFETIME_S = 300;
/** Slack for clocks a few seconds apart. */
const LEEWAY_S = 5;

export type AssertionResult =
  | { ok: true; clientId: string }
  | { ok: false; reason: AssertionFailureReason; description: string; clientId?: string };

export interface AssertionVerifierDeps {
  clock: SimClock;
  jwks: ClientJwksCache;
  tokenUrl: () => string;
  /** The registered JWKS URL of an asymmetric client; undefined for any other client. */
  jwksUrlOf: (clientId: string) => string | undefined;
}

export interface AssertionVerifier {
  verify(assertion: string): Promise<AssertionResult>;
}

const fail = (
  reason: AssertionFailureReason,
  description: string,
  clientId?: string,
): AssertionResult => ({
  ok: false,
  reason,
  description,
  ...(clientId === undefined ? {} : { clientId }),
});

export function createAssertionVerifier(deps: AssertionVerifierDeps): AssertionVerifier {
  // jti → exp (epoch s); entries are dropped once the assertion could no longer be valid.
  const seenJti = new Map<string, number>();

  const forgetExpired = (nowS: number): void => {
    for (const [jti, exp] of seenJti) if (exp + LEEWAY_S < nowS) seenJti.delete(jti);
  };

  return {
    async verify(assertion) {
      let header: ReturnType<typeof decodeProtectedHeader>;
      let claims: ReturnType<typeof decodeJwt>;
      try {
        header = decodeProtectedHeader(assertion);
        claims = decodeJwt(assertion);
      } catch {
        return fail('malformed', 'client_assertion is not a JWT');
      }
      const iss = typeof claims.iss === 'string' ? claims.iss : undefined;
      if (header.alg !== ASSERTION_ALG) {
        return fail('alg', `client_assertion alg must be ${ASSERTION_ALG}`, iss);
      }
      if (header.typ !== 'JWT') return fail('typ', 'client_assertion typ must be JWT', iss);
      if (typeof header.kid !== 'string' || header.kid.length === 0) {
        return fail('kid_missing', 'client_assertion header has no kid', iss);
      }
      if (iss === undefined || claims.sub !== iss) {
        return fail('iss_sub', 'client_assertion iss and sub must both be the client_id', iss);
      }
      const jwksUrl = deps.jwksUrlOf(iss);
      if (jwksUrl === undefined) {
        return fail('iss_sub', 'client_assertion iss is not an asymmetric client', iss);
      }

      const lookup = await deps.jwks.keyFor(jwksUrl, header.kid);
      if ('error' in lookup) {
        return lookup.error === 'jwks_unreachable'
          ? fail('jwks_unreachable', 'the registered JWKS URL could not be read', iss)
          : fail('kid_unknown', 'no key with this kid in the registered JWKS', iss);
      }
      if (lookup.key.kty !== 'RSA') {
        return fail('signature', 'the kid names a key that is not RSA', iss);
      }
      try {
        const key = await importJWK({ ...lookup.key, alg: ASSERTION_ALG }, ASSERTION_ALG);
        await compactVerify(assertion, key, { algorithms: [ASSERTION_ALG] });
      } catch {
        return fail('signature', 'client_assertion signature does not verify', iss);
      }

      const tokenUrl = deps.tokenUrl();
      const audOk = Array.isArray(claims.aud)
        ? claims.aud.includes(tokenUrl)
        : claims.aud === tokenUrl;
      if (!audOk) return fail('aud', 'client_assertion aud must be the token endpoint URL', iss);

      const nowS = Math.floor(deps.clock.now() / 1000);
      if (typeof claims.exp !== 'number')
        return fail('malformed', 'client_assertion has no exp', iss);
      if (claims.exp + LEEWAY_S <= nowS)
        return fail('expired', 'client_assertion has expired', iss);
      if (claims.exp > nowS + MAX_ASSERTION_LIFETIME_S + LEEWAY_S) {
        return fail('exp_too_far', 'client_assertion exp is more than 5 minutes ahead', iss);
      }
      if (typeof claims.jti !== 'string' || claims.jti.length === 0) {
        return fail('malformed', 'client_assertion has no jti', iss);
      }
      forgetExpired(nowS);
      const jtiKey = `${iss}\u0000${claims.jti}`;
      if (seenJti.has(jtiKey)) return fail('replay', 'client_assertion jti was already used', iss);
      seenJti.set(jtiKey, claims.exp);
      return { ok: true, clientId: iss };
    },
  };
}
