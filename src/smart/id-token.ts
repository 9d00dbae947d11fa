// id_token validation (OpenID Connect Core §3.1.3.7) against the authorization server's JWKS:
// signature, iss, aud, exp/iat, nonce. healow's signing keys rotate: jose's remote JWKS refetches
// on an unknown kid (after its cooldown), so one key set per jwks_uri is kept and reused.
// Done with jose rather than oauth4webapi: the library checks an id_token only inside a token
// answer, always compares its iss with the issuer (a practice found through its
// CapabilityStatement has none), and times it on the system clock, not the injected one.
import { createRemoteJWKSet, customFetch, errors, type JWTPayload, jwtVerify } from 'jose';
import { type Clock, seconds } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';

/** healow does not document its id_token alg; these are the ones SMART servers use. */
export const ID_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'ES384'];

/** Allowed clock difference for exp and iat. */
const CLOCK_TOLERANCE_S = 60;

export interface IdTokenValidatorOptions {
  fetch?: typeof fetch;
  clock: Clock;
  /**
   * Minimum time between two JWKS refetches caused by an unknown kid (jose's cooldown, on real
   * time, not the injected clock). Default 30 s.
   */
  jwksCooldownMs?: number;
  /** Default 10 s. */
  jwksTimeoutMs?: number;
}

export interface IdTokenExpectations {
  /** From discovery (`jwks_uri`). */
  jwksUri: string;
  /** Discovery's `issuer`; when undefined (metadata fallback gives none), `iss` is not compared. */
  issuer?: string | undefined;
  clientId: string;
  /** The nonce sent in the authorize request, if one was. */
  nonce?: string | undefined;
}

export interface IdTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  exp: number;
  iat: number;
  fhirUser?: string;
  nonce?: string;
}

export interface IdTokenValidator {
  validateIdToken(idToken: string, expected: IdTokenExpectations): Promise<IdTokenClaims>;
}

export function createIdTokenValidator({
  fetch: fetchImpl,
  clock,
  jwksCooldownMs = 30_000,
  jwksTimeoutMs = 10_000,
}: IdTokenValidatorOptions): IdTokenValidator {
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  function keySet(jwksUri: string): ReturnType<typeof createRemoteJWKSet> {
    let set = keySets.get(jwksUri);
    if (!set) {
      set = createRemoteJWKSet(new URL(jwksUri), {
        cooldownDuration: jwksCooldownMs,
        timeoutDuration: jwksTimeoutMs,
        ...(fetchImpl ? { [customFetch]: fetchImpl } : {}),
      });
      keySets.set(jwksUri, set);
    }
    return set;
  }

  return {
    async validateIdToken(idToken, expected) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(idToken, keySet(expected.jwksUri), {
          algorithms: ID_TOKEN_ALGORITHMS,
          audience: expected.clientId,
          ...(expected.issuer === undefined ? {} : { issuer: expected.issuer }),
          currentDate: new Date(clock.now()),
          clockTolerance: CLOCK_TOLERANCE_S,
          requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
        }));
      } catch (cause) {
        throw new BridgeError('invalid_id_token', `id_token rejected: ${reasonOf(cause)}`, {
          cause,
          details: { reason: cause instanceof errors.JOSEError ? cause.code : 'unknown' },
        });
      }
      const reject = (reason: string) =>
        new BridgeError('invalid_id_token', `id_token rejected: ${reason}`, {
          details: { reason },
        });
      // jose checks iat's future only with maxTokenAge; an id_token from the future is forged
      // or the clocks disagree beyond the tolerance.
      if (
        typeof payload.iat === 'number' &&
        payload.iat > seconds(clock.now()) + CLOCK_TOLERANCE_S
      ) {
        throw reject('iat is in the future');
      }
      // OIDC Core §3.1.3.7 (4, 5): with several audiences, azp names the client.
      if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== undefined) {
        if (payload.azp !== expected.clientId) throw reject('azp is another client');
      }
      if (expected.nonce !== undefined && payload.nonce !== expected.nonce) {
        throw reject('nonce does not match');
      }
      return payload as IdTokenClaims;
    },
  };
}

function reasonOf(cause: unknown): string {
  if (cause instanceof errors.JWTClaimValidationFailed || cause instanceof errors.JWTExpired) {
    return `${cause.claim} claim check failed (${cause.reason})`;
  }
  if (cause instanceof errors.JWKSNoMatchingKey) return 'no key in the JWKS matches its kid/alg';
  if (cause instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (cause instanceof errors.JOSEAlgNotAllowed) return 'signing algorithm not allowed';
  if (cause instanceof errors.JOSEError) return `${cause.code}: ${cause.message}`;
  return cause instanceof Error ? cause.message : String(cause);
}
