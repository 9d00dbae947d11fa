// Client authentication at the token endpoint, by registration type, on every grant
// (RFC 6749 §2.3, RFC 7523 §2.2, SMART App Launch "Client Authentication"):
// asymmetric → private_key_jwt; symmetric → HTTP Basic; public → client_id only, no secret.

import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AssertionFailureReason } from '../context.ts';
import type { Registration } from '../options.ts';
import type { AssertionVerifier } from './client-assertion.ts';
import { param } from './deps.ts';
import { OAuthError } from './oauth-errors.ts';
import type { RegistrationStore } from './registrations.ts';

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export type ClientAuthResult =
  | { ok: true; client: Registration }
  | { ok: false; error: OAuthError; assertionFailure?: AssertionFailureReason };

const refuse = (
  error: OAuthError,
  assertionFailure?: AssertionFailureReason,
): ClientAuthResult => ({
  ok: false,
  error,
  ...(assertionFailure === undefined ? {} : { assertionFailure }),
});

const invalidClient = (description: string): OAuthError =>
  new OAuthError('invalid_client', description);

/** RFC 6749 §2.3.1: client_id and secret are form-urlencoded before base64. */
function parseBasic(header: string): { clientId: string; secret: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    return {
      clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    return undefined;
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function authenticateClient(
  request: FastifyRequest,
  registrations: RegistrationStore,
  assertions: AssertionVerifier,
): Promise<ClientAuthResult> {
  const body = request.body;
  const bodyClientId = param(body, 'client_id');
  const assertion = param(body, 'client_assertion');
  const assertionType = param(body, 'client_assertion_type');
  const authorization = request.headers.authorization;
  const methods = [assertion !== undefined, authorization !== undefined].filter(Boolean).length;
  if (methods > 1) {
    return refuse(
      new OAuthError('invalid_request', 'use exactly one client authentication method'),
    );
  }

  if (assertion !== undefined || assertionType !== undefined) {
    if (assertionType !== JWT_BEARER_ASSERTION_TYPE || assertion === undefined) {
      return refuse(
        new OAuthError(
          'invalid_request',
          `client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`,
        ),
      );
    }
    const result = await assertions.verify(assertion);
    if (!result.ok) return refuse(invalidClient(result.description), result.reason);
    if (bodyClientId !== undefined && bodyClientId !== result.clientId) {
      return refuse(invalidClient('client_id does not match the client_assertion'), 'iss_sub');
    }
    const client = registrations.get(result.clientId);
    if (!client) return refuse(invalidClient('unknown client'));
    return { ok: true, client };
  }

  if (authorization !== undefined) {
    const basic = parseBasic(authorization);
    if (!basic) return refuse(invalidClient('Authorization must be HTTP Basic'));
    const client = registrations.get(basic.clientId);
    if (
      client?.type !== 'confidential-symmetric' ||
      !sameSecret(basic.secret, client.clientSecret)
    ) {
      return refuse(invalidClient('client authentication failed'));
    }
    if (bodyClientId !== undefined && bodyClientId !== basic.clientId) {
      return refuse(invalidClient('client_id does not match the Authorization header'));
    }
    return { ok: true, client };
  }

  if (bodyClientId === undefined) return refuse(invalidClient('client authentication is missing'));
  const client = registrations.get(bodyClientId);
  if (!client) return refuse(invalidClient('unknown client'));
  if (param(body, 'client_secret') !== undefined) {
    // healow: symmetric clients use HTTP Basic on every token call; secrets never go in the body.
    return refuse(invalidClient('client_secret_post is not accepted; use HTTP Basic'));
  }
  if (client.type === 'confidential-symmetric') {
    return refuse(invalidClient('this client must authenticate with HTTP Basic'));
  }
  if (client.type === 'confidential-asymmetric') {
    return refuse(invalidClient('this client must authenticate with a client_assertion'));
  }
  return { ok: true, client };
}
