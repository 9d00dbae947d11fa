// The browser half of the standalone launch (SMART App Launch §2.0.5-2.0.8): the authorize
// request (GET and POST, healow advertises authorize-post), the login page and the consent page.
// Until the client and redirect_uri are known-good, errors are a 400 page, never a redirect
// (RFC 6749 §4.1.2.1); after that they go back to the app with `error` and `state`.

import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AuthDeps } from './deps.ts';
import { param, practiceForAud, repeated } from './deps.ts';
import { renderConsentPage, renderErrorPage, renderLoginPage } from './pages.ts';
import type { PendingAuthorization } from './pending.ts';
import { isSupportedScope, parseScope } from './scopes.ts';

/** The test patients' shared password on healow's sandbox. */
export const TEST_PASSWORD = 'e@CWFHIR1';

const AUTHORIZE_PARAMS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'aud',
  'code_challenge',
  'code_challenge_method',
  'nonce',
] as const;

/** RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

function htmlPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .type('text/html;charset=UTF-8')
    .send(html);
}

function badRequestPage(reply: FastifyReply, message: string): FastifyReply {
  return htmlPage(reply, 400, renderErrorPage('Bad Request', message));
}

/** Redirects back to the app (RFC 6749 §4.1.2): the redirect_uri keeps its own query. */
function redirectBack(
  reply: FastifyReply,
  redirectUri: string,
  params: Record<string, string | undefined>,
): FastifyReply {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) url.searchParams.set(name, value);
  }
  return reply.code(302).header('cache-control', 'no-store').redirect(url.href, 302);
}

export function registerAuthorizeRoutes(app: FastifyInstance, deps: AuthDeps): void {
  const { ctx, registrations, pending, grants, limiter } = deps;

  const practiceName = (code: string): string => ctx.practices.get(code)?.name ?? code;

  const authorize = (source: unknown, reply: FastifyReply): FastifyReply => {
    const aud = param(source, 'aud');
    const practiceCode = practiceForAud(ctx, aud);
    // healow counts /authorize against the practice named by aud, whatever else is wrong.
    if (practiceCode !== undefined) {
      const decision = limiter.take(practiceCode);
      if (!decision.allowed) {
        return htmlPage(
          reply.headers(limiter.headers(decision)),
          429,
          renderErrorPage(
            'Too Many Requests',
            'Too many requests for this practice. Try again later.',
          ),
        );
      }
    }

    const clientId = param(source, 'client_id');
    if (clientId === undefined) return badRequestPage(reply, 'client_id is missing.');
    const registration = registrations.get(clientId);
    if (!registration) return badRequestPage(reply, 'client_id is not a registered application.');
    const redirectUri = param(source, 'redirect_uri');
    if (redirectUri === undefined) return badRequestPage(reply, 'redirect_uri is missing.');
    // Exact string match: healow refuses a redirect_uri that differs by a trailing slash.
    if (!registration.redirectUris.includes(redirectUri)) {
      return badRequestPage(reply, 'redirect_uri does not match a registered redirect URI.');
    }

    const state = param(source, 'state');
    const fail = (error: string, description: string): FastifyReply =>
      redirectBack(reply, redirectUri, { error, error_description: description, state });

    const twice = repeated(source, AUTHORIZE_PARAMS);
    if (twice) return fail('invalid_request', `${twice} is repeated`);
    if (param(source, 'response_type') !== 'code') {
      return fail('unsupported_response_type', 'response_type must be code');
    }
    if (practiceCode === undefined) {
      return fail('invalid_request', 'aud must be the FHIR base URL of a practice, exactly');
    }
    if (ctx.practices.get(practiceCode)?.disabled) {
      return fail('invalid_request', 'patient access is not enabled for this practice');
    }
    if (state === undefined || state.length === 0)
      return fail('invalid_request', 'state is missing');

    const scopeParam = param(source, 'scope');
    if (scopeParam === undefined) return fail('invalid_scope', 'scope is missing');
    const scopes = parseScope(scopeParam);
    if (scopes.length === 0) return fail('invalid_scope', 'scope is empty');
    const unsupported = scopes.find((s) => !isSupportedScope(s, ctx.quirks.scopesSupported));
    if (unsupported) return fail('invalid_scope', `scope ${unsupported} is not supported`);
    const notAllowed = registration.scopes && scopes.find((s) => !registration.scopes?.includes(s));
    if (notAllowed) return fail('invalid_scope', `scope ${notAllowed} is not allowed for this app`);

    // PKCE S256 is required (smart-configuration lists only S256).
    const challenge = param(source, 'code_challenge');
    if (param(source, 'code_challenge_method') !== 'S256') {
      return fail('invalid_request', 'code_challenge_method must be S256');
    }
    if (challenge === undefined || !S256_CHALLENGE.test(challenge)) {
      return fail('invalid_request', 'code_challenge is missing or not an S256 challenge');
    }

    const nonce = param(source, 'nonce');
    const request = pending.create({
      clientId,
      redirectUri,
      practiceCode,
      scopes,
      state,
      codeChallenge: challenge,
      ...(nonce === undefined ? {} : { nonce }),
    });
    return htmlPage(
      reply,
      200,
      renderLoginPage({
        requestId: request.id,
        practiceName: practiceName(practiceCode),
        appName: registration.appName,
        usernames: ctx.data.usernames(),
      }),
    );
  };

  app.get('/oauth/oauth2/authorize', (request, reply) => authorize(request.query, reply));
  app.post('/oauth/oauth2/authorize', (request, reply) => authorize(request.body, reply));

  const pendingOf = (body: unknown): PendingAuthorization | undefined => {
    const id = param(body, 'request_id');
    return id === undefined ? undefined : pending.get(id);
  };
  const expired = (reply: FastifyReply): FastifyReply =>
    badRequestPage(
      reply,
      'This sign-in request has expired or is unknown. Return to the app and start again.',
    );

  const consentPage = (request: PendingAuthorization, error?: string): string => {
    const registration = registrations.get(request.clientId);
    return renderConsentPage({
      requestId: request.id,
      appName: registration?.appName ?? request.clientId,
      appDescription: registration?.appDescription ?? '',
      practiceName: practiceName(request.practiceCode),
      patientName:
        ctx.data.displayName(request.practiceCode, request.patientId ?? '') ??
        request.username ??
        '',
      scopes: request.scopes,
      ...(error === undefined ? {} : { error }),
    });
  };

  app.post('/oauth/oauth2/login', (request, reply) => {
    const authorization = pendingOf(request.body);
    if (!authorization) return expired(reply);
    const typed = param(request.body, 'username') ?? '';
    const password = param(request.body, 'password') ?? '';
    const username = ctx.data.usernames().find((u) => u.toLowerCase() === typed.toLowerCase());
    const retry = (error: string): FastifyReply =>
      htmlPage(
        reply,
        200,
        renderLoginPage({
          requestId: authorization.id,
          practiceName: practiceName(authorization.practiceCode),
          appName: registrations.get(authorization.clientId)?.appName ?? authorization.clientId,
          usernames: ctx.data.usernames(),
          username: typed,
          error,
        }),
      );
    if (username === undefined || password !== TEST_PASSWORD) {
      return retry('Invalid username or password.');
    }
    const patientId = ctx.data.patientIdFor(authorization.practiceCode, username);
    if (patientId === undefined) return retry('This patient has no account at this practice.');
    authorization.username = username;
    authorization.patientId = patientId;
    return htmlPage(reply, 200, consentPage(authorization));
  });

  app.post('/oauth/oauth2/consent', (request, reply) => {
    const authorization = pendingOf(request.body);
    if (!authorization) return expired(reply);
    if (authorization.username === undefined || authorization.patientId === undefined) {
      return badRequestPage(reply, 'Log in before answering the consent request.');
    }
    const decision = param(request.body, 'decision');
    if (decision === 'deny') {
      pending.delete(authorization.id);
      return redirectBack(reply, authorization.redirectUri, {
        error: 'access_denied',
        error_description: 'The patient denied the request',
        state: authorization.state,
      });
    }
    if (decision !== 'allow') return badRequestPage(reply, 'Choose Allow or Deny.');
    const raw = (request.body as Record<string, unknown> | undefined)?.scope;
    const ticked = new Set(
      (Array.isArray(raw) ? raw : [raw]).filter((s): s is string => typeof s === 'string'),
    );
    // The patient may untick scopes, never add any.
    const granted = authorization.scopes.filter((s) => ticked.has(s));
    if (granted.length === 0) {
      return htmlPage(
        reply,
        200,
        consentPage(authorization, 'Select at least one item to share, or Deny.'),
      );
    }
    pending.delete(authorization.id);
    const code = grants.issueCode({
      clientId: authorization.clientId,
      redirectUri: authorization.redirectUri,
      practiceCode: authorization.practiceCode,
      patientId: authorization.patientId,
      username: authorization.username,
      scopes: granted,
      codeChallenge: authorization.codeChallenge,
      ...(authorization.nonce === undefined ? {} : { nonce: authorization.nonce }),
    });
    return redirectBack(reply, authorization.redirectUri, { code, state: authorization.state });
  });
}
