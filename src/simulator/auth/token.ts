// The token endpoint (RFC 6749 §4.1.3 and §6, SMART App Launch §2.0.9): authorization_code and
// refresh_token grants, client authentication on every call, healow's response and errors.
// Rate-limited against the practice bound to the code or refresh token.

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticateClient } from './client-auth.ts';
import type { AuthDeps } from './deps.ts';
import { param, repeated } from './deps.ts';
import type { Grant } from './grants.ts';
import { signIdToken } from './id-token.ts';
import { OAuthError, sendOAuthError } from './oauth-errors.ts';
import { parseScope } from './scopes.ts';

/** RFC 7636 §4.1: 43-128 unreserved characters. */
const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

const TOKEN_PARAMS = [
  'grant_type',
  'code',
  'redirect_uri',
  'code_verifier',
  'refresh_token',
  'scope',
  'client_id',
  'client_assertion',
  'client_assertion_type',
] as const;

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

export function registerTokenRoute(app: FastifyInstance, deps: AuthDeps): void {
  const { ctx, grants, limiter, registrations, assertions, keys } = deps;

  const tokenResponse = async (
    reply: FastifyReply,
    grant: Grant,
    scopes: string[],
    refreshToken: string | undefined,
  ): Promise<FastifyReply> => {
    const lifetime = ctx.options.accessTokenLifetimeS;
    const body: Record<string, unknown> = {
      access_token: grants.issueAccessToken(grant, scopes, lifetime),
      token_type: 'Bearer',
      expires_in: lifetime,
      scope: scopes.join(' '),
    };
    if (ctx.quirks.patientInTokenResponse) body.patient = grant.patientId;
    if (scopes.includes('openid')) body.id_token = await signIdToken(ctx, keys, grant);
    if (refreshToken !== undefined) body.refresh_token = refreshToken;
    return reply
      .code(200)
      .header('cache-control', 'no-store')
      .header('pragma', 'no-cache')
      .type('application/json;charset=UTF-8')
      .send(body);
  };

  const refreshable = (grant: Grant, clientType: string): boolean =>
    grant.scopes.includes('offline_access') && clientType !== 'public';

  const handle = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    // RFC 6749 §4.1.3: the token request is form-encoded; JSON is not read.
    const contentType = request.headers['content-type']?.toLowerCase() ?? '';
    const body = contentType.startsWith('application/x-www-form-urlencoded')
      ? request.body
      : undefined;
    const grantType = param(body, 'grant_type');
    const code = param(body, 'code');
    const refreshToken = param(body, 'refresh_token');

    // The practice this call counts against: the one bound to the code or refresh token.
    const codeRecord =
      grantType === 'authorization_code' && code !== undefined ? grants.findCode(code) : undefined;
    const refreshRecord =
      grantType === 'refresh_token' && refreshToken !== undefined
        ? grants.findRefreshToken(refreshToken)
        : undefined;
    const practiceCode = codeRecord?.practiceCode ?? refreshRecord?.grant.practiceCode;
    if (practiceCode !== undefined) {
      const decision = limiter.take(practiceCode);
      if (!decision.allowed) {
        return reply
          .code(429)
          .headers(limiter.headers(decision))
          .header('cache-control', 'no-store')
          .type('application/json;charset=UTF-8')
          .send({
            error: 'too_many_requests',
            error_description: 'rate limit exceeded for this practice',
          });
      }
    }

    if (typeof body !== 'object' || body === null) {
      throw new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded');
    }
    const twice = repeated(body, TOKEN_PARAMS);
    if (twice) throw new OAuthError('invalid_request', `${twice} is repeated`);
    if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is missing');
    if (grantType === 'client_credentials') {
      throw new OAuthError(
        'unauthorized_client',
        'client_credentials is not enabled for this client',
      );
    }
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported`);
    }

    const auth = await authenticateClient(request, registrations, assertions);
    if (!auth.ok) {
      if (auth.assertionFailure) {
        ctx.counters.assertionFailed(practiceCode ?? 'unknown', auth.assertionFailure);
      }
      throw auth.error;
    }
    const client = auth.client;

    if (grantType === 'authorization_code') {
      const redirectUri = param(body, 'redirect_uri');
      const verifier = param(body, 'code_verifier');
      if (code === undefined) throw new OAuthError('invalid_request', 'code is missing');
      if (redirectUri === undefined)
        throw new OAuthError('invalid_request', 'redirect_uri is missing');
      if (verifier === undefined)
        throw new OAuthError('invalid_request', 'code_verifier is missing');
      if (!codeRecord || codeRecord.used || codeRecord.expiresAt <= ctx.clock.now()) {
        throw new OAuthError('invalid_grant', 'the code is invalid, expired or already used');
      }
      if (codeRecord.clientId !== client.clientId) {
        throw new OAuthError('invalid_grant', 'the code was issued to another client');
      }
      // From here the code is spent, even if what follows fails (single-use, RFC 6749 §4.1.2).
      codeRecord.used = true;
      if (codeRecord.redirectUri !== redirectUri) {
        throw new OAuthError('invalid_grant', 'redirect_uri differs from the authorize request');
      }
      if (!CODE_VERIFIER.test(verifier) || s256(verifier) !== codeRecord.codeChallenge) {
        throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge');
      }
      if (ctx.practices.get(codeRecord.practiceCode)?.disabled) {
        throw new OAuthError('invalid_grant', 'patient access is not enabled for this practice');
      }
      const grant = grants.redeemCode(codeRecord);
      const refresh = refreshable(grant, client.type)
        ? grants.issueRefreshToken(grant, grant.scopes)
        : undefined;
      ctx.counters.tokenIssued(grant.practiceCode);
      return tokenResponse(reply, grant, grant.scopes, refresh);
    }

    if (refreshToken === undefined)
      throw new OAuthError('invalid_request', 'refresh_token is missing');
    if (!refreshRecord?.record.active) {
      if (refreshRecord) ctx.counters.refreshTokenReused(refreshRecord.grant.practiceCode);
      throw new OAuthError('invalid_grant', 'the refresh token is invalid or already used');
    }
    const { grant, record } = refreshRecord;
    if (grant.clientId !== client.clientId) {
      throw new OAuthError('invalid_grant', 'the refresh token was issued to another client');
    }
    if (grant.revoked) {
      // Unconfirmed at healow: 400 invalid_grant is standard, one integrator saw 403.
      throw new OAuthError(
        'invalid_grant',
        'the patient revoked access',
        ctx.quirks.revokedRefreshStatus,
      );
    }
    if (grant.refreshExpiresAt <= ctx.clock.now()) {
      throw new OAuthError('invalid_grant', 'the refresh token has expired');
    }
    if (ctx.practices.get(grant.practiceCode)?.disabled) {
      throw new OAuthError('invalid_grant', 'patient access is not enabled for this practice');
    }
    const scopeParam = param(body, 'scope');
    let scopes = record.scopes;
    if (scopeParam !== undefined) {
      // RFC 6749 §6: a refresh may narrow the scope, never widen it.
      const asked = parseScope(scopeParam);
      const extra = asked.find((s) => !record.scopes.includes(s));
      if (extra) throw new OAuthError('invalid_scope', `scope ${extra} was not granted`);
      scopes = asked;
    }
    let next: string | undefined;
    if (ctx.quirks.refreshTokens === 'rotate') {
      // healow: single-use refresh tokens; the new one keeps the first grant's 90-day end.
      grants.retireRefreshToken(refreshToken);
      next = grants.issueRefreshToken(grant, record.scopes);
    }
    ctx.counters.refreshed(grant.practiceCode);
    return tokenResponse(reply, grant, scopes, next);
  };

  app.post('/oauth/oauth2/token', async (request, reply) => {
    try {
      return await handle(request, reply);
    } catch (error) {
      if (error instanceof OAuthError) return sendOAuthError(reply, error);
      throw error;
    }
  });
}
