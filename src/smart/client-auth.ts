// Client authentication at the token endpoint as a value, applied to the code exchange and to
// every refresh alike: private_key_jwt (RFC 7523 §2.2, SMART "client-confidential-asymmetric"),
// client_secret_basic (RFC 6749 §2.3.1) and none (public clients, PKCE only).
import { type Clock, seconds } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { randomToken } from '../common/random.ts';

export type ClientAuthMethod = 'private_key_jwt' | 'client_secret_basic' | 'none';

export interface ClientAuthentication {
  readonly clientId: string;
  readonly method: ClientAuthMethod;
  /** Adds this client's credentials to a token request about to be sent to `tokenEndpoint`. */
  apply(
    tokenEndpoint: string,
    body: URLSearchParams,
    headers: Headers,
    clock: Clock,
  ): Promise<void>;
}

/**
 * Signs JWTs with the registration's active key (the keys part builds it). The signer owns the
 * protected header: `alg: RS384` (the only alg healow accepts), `typ: JWT`, `kid`.
 */
export interface JwtSigner {
  readonly kid: string;
  signJwt(payload: Record<string, unknown>): Promise<string>;
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

/** RFC 7523 §2.2 / §3 client assertion: iss = sub = client_id, aud = token endpoint, unique jti. */
export function privateKeyJwt({
  clientId,
  signer,
  assertionLifetimeSeconds = 120,
}: PrivateKeyJwtOptions): ClientAuthentication {
  requireClientId(clientId);
  if (
    !Number.isInteger(assertionLifetimeSeconds) ||
    assertionLifetimeSeconds < 60 ||
    assertionLifetimeSeconds > MAX_ASSERTION_LIFETIME_S
  ) {
    throw new BridgeError(
      'invalid_config',
      'assertionLifetimeSeconds must be an integer in 60..300',
    );
  }
  return {
    clientId,
    method: 'private_key_jwt',
    async apply(tokenEndpoint, body, _headers, clock) {
      const iat = seconds(clock.now());
      const assertion = await signer.signJwt({
        iss: clientId,
        sub: clientId,
        aud: tokenEndpoint,
        jti: randomToken(32),
        iat,
        exp: iat + assertionLifetimeSeconds,
      });
      // RFC 7523 §3 lets client_id ride along; SMART's examples and some servers expect it.
      body.set('client_id', clientId);
      body.set('client_assertion_type', JWT_BEARER_ASSERTION_TYPE);
      body.set('client_assertion', assertion);
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
  const credentials = Buffer.from(
    `${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`,
    'utf8',
  ).toString('base64');
  return {
    clientId,
    method: 'client_secret_basic',
    async apply(_tokenEndpoint, _body, headers) {
      headers.set('authorization', `Basic ${credentials}`);
    },
  };
}

/** A public client (RFC 6749 §2.1): no secret, `client_id` in the body, PKCE protects the code. */
export function publicClient({ clientId }: { clientId: string }): ClientAuthentication {
  requireClientId(clientId);
  return {
    clientId,
    method: 'none',
    async apply(_tokenEndpoint, body) {
      body.set('client_id', clientId);
    },
  };
}

/** application/x-www-form-urlencoded encoding of one value (space → `+`), as RFC 6749 §2.3.1 asks. */
export function formUrlEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

function requireClientId(clientId: string): void {
  if (clientId === '') throw new BridgeError('invalid_config', 'client id is empty');
}
