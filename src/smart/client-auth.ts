// Client authentication at the token endpoint as a value, applied to the code exchange and to
// every refresh alike: private_key_jwt (RFC 7523 §2.2, SMART "client-confidential-asymmetric"),
// client_secret_basic (RFC 6749 §2.3.1) and none (public clients, PKCE only). Each value hands
// oauth4webapi its own client authentication, with healow's requirements as options around it.
import * as oauth from 'oauth4webapi';
import { type Clock, seconds } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';

export type ClientAuthMethod = 'private_key_jwt' | 'client_secret_basic' | 'none';

export interface ClientAuthentication {
  readonly clientId: string;
  readonly method: ClientAuthMethod;
  /**
   * oauth4webapi's client authentication for one request to `tokenEndpoint` (the audience of a
   * client assertion), at the time of `clock`.
   */
  forRequest(tokenEndpoint: string, clock: Clock): oauth.ClientAuth;
}

/**
 * The registration's active signing key (the keys part builds it): an RS384 private key, the
 * only alg healow accepts, and the `kid` it is published under in the registered JWKS.
 */
export interface JwtSigner {
  readonly kid: string;
  readonly key: CryptoKey;
}

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** SMART App Launch 2: the assertion's `exp` SHALL be no more than five minutes in the future. */
const MAX_ASSERTION_LIFETIME_S = 300;

export interface PrivateKeyJwtOptions {
  clientId: string;
  signer: JwtSigner;
  /** Seconds from `iat` to `exp`, 60..300. Default 120: room for clock skew, under the cap. */
  assertionLifetimeSeconds?: number;
}

/**
 * RFC 7523 §2.2 / §3 client assertion, signed by oauth4webapi: iss = sub = client_id, unique jti.
 * Changed from the library's defaults: `aud` is the token endpoint (the library uses the issuer,
 * which at healow is the practice base, not the authorization server), the header carries
 * `typ: JWT` (SMART asks for it), and the times come from the injected clock.
 */
export function privateKeyJwt({
  clientId,
  signer,
  assertionLifetimeSeconds = 120,
}: PrivateKeyJwtOptions): ClientAuthentication {
  requireClientId(clientId);
  requireAssertionLifetime(assertionLifetimeSeconds);
  const key = { key: signer.key, kid: signer.kid };
  return {
    clientId,
    method: 'private_key_jwt',
    forRequest(tokenEndpoint, clock) {
      return oauth.PrivateKeyJwt(key, {
        [oauth.modifyAssertion](header, payload) {
          const iat = seconds(clock.now());
          header.typ = 'JWT';
          payload.aud = tokenEndpoint;
          payload.iat = iat;
          payload.nbf = iat;
          payload.exp = iat + assertionLifetimeSeconds;
        },
      });
    },
  };
}

/** RFC 6749 §2.3.1 HTTP Basic: id and secret each form-urlencoded, then base64. */
export function clientSecretBasic({
  clientId,
  clientSecret,
}: {
  clientId: string;
  clientSecret: string;
}): ClientAuthentication {
  requireClientId(clientId);
  if (clientSecret === '') throw new BridgeError('invalid_config', 'client secret is empty');
  const auth = oauth.ClientSecretBasic(clientSecret);
  return { clientId, method: 'client_secret_basic', forRequest: () => auth };
}

/** A public client (RFC 6749 §2.1): no secret, `client_id` in the body, PKCE protects the code. */
export function publicClient({ clientId }: { clientId: string }): ClientAuthentication {
  requireClientId(clientId);
  const auth = oauth.None();
  return { clientId, method: 'none', forRequest: () => auth };
}

function requireClientId(clientId: string): void {
  if (clientId === '') throw new BridgeError('invalid_config', 'client id is empty');
}

function requireAssertionLifetime(lifetime: number): void {
  if (!Number.isInteger(lifetime) || lifetime < 60 || lifetime > MAX_ASSERTION_LIFETIME_S) {
    throw new BridgeError(
      'invalid_config',
      'assertionLifetimeSeconds must be an integer in 60..300',
    );
  }
}
