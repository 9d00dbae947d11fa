// RFC 6749 §5.2 error responses of the token endpoint: `{ error, error_description }` with the
// status healow uses (invalid_client 401, the rest 400), never cached.

import type { FastifyReply } from 'fastify';

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'server_error'
  | 'temporarily_unavailable';

export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly status: number = error === 'invalid_client' ? 401 : 400,
  ) {
    super(description);
  }
}

export function sendOAuthError(reply: FastifyReply, err: OAuthError): FastifyReply {
  if (err.status === 401 && err.error === 'invalid_client') {
    // RFC 6749 §5.2: a 401 names the authentication scheme.
    reply.header('www-authenticate', 'Basic realm="oauth"');
  }
  return reply
    .code(err.status)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .type('application/json;charset=UTF-8')
    .send({ error: err.error, error_description: err.description });
}
