// Token revocation (RFC 7009), served only when the `revocationEndpoint` quirk is on: healow
// advertises no revocation endpoint, other SMART servers do. The client authenticates as at the
// token endpoint (a client assertion's `aud` is the token endpoint there too).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateClient } from './client-auth.ts';
import type { AuthDeps } from './deps.ts';
import { param, repeated } from './deps.ts';
import { OAuthError, sendOAuthError } from './oauth-errors.ts';

export const REVOCATION_PATH = '/oauth/oauth2/revoke';

const REVOCATION_PARAMS = [
  'token',
  'token_type_hint',
  'client_id',
  'client_assertion',
  'client_assertion_type',
] as const;

export function registerRevocationRoute(app: FastifyInstance, deps: AuthDeps): void {
  const { ctx, grants, registrations, assertions } = deps;

  const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (!ctx.quirks.revocationEndpoint) {
      return reply.code(404).type('application/json;charset=UTF-8').send({
        error: 'not_found',
        error_description: 'this server has no revocation endpoint',
      });
    }
    const contentType = request.headers['content-type']?.toLowerCase() ?? '';
    const body = contentType.startsWith('application/x-www-form-urlencoded')
      ? request.body
      : undefined;
    if (typeof body !== 'object' || body === null) {
      throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
    }
    const twice = repeated(body, REVOCATION_PARAMS);
    if (twice) throw new OAuthError('invalid_request', `${twice} is repeated`);
    const token = param(body, 'token');
    if (token === undefined) throw new OAuthError('invalid_request', 'token is missing');
    const auth = await authenticateClient(request, registrations, assertions);
    if (!auth.ok) throw auth.error;
    // §2.2: an unknown, already revoked or foreign token is answered 200 all the same, so the
    // answer tells a caller nothing about tokens that are not its own.
    grants.revokeToken(token, auth.client.clientId);
    return reply.code(200).header('cache-control', 'no-store').send();
  };

  app.post(REVOCATION_PATH, async (request, reply) => {
    try {
      return await handle(request, reply);
    } catch (error) {
      if (error instanceof OAuthError) return sendOAuthError(reply, error);
      throw error;
    }
  });
}
