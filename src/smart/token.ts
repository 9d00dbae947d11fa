// Token endpoint requests (RFC 6749 §4.1.3 code exchange, §6 refresh, RFC 7009 revocation) and the
// check of their answers (§5.1 success, §5.2 error), as separate send and process functions, both
// done by oauth4webapi; this module adds healow's tolerances and maps refusals to BridgeErrors.
// Client authentication is a value applied to every request alike.
import * as oauth from 'oauth4webapi';
import { z } from 'zod';
import type { Clock } from '../common/clock.ts';
import { BridgeError, isBridgeError } from '../common/errors.ts';
import type { ClientAuthentication } from './client-auth.ts';
import { formatScope, parseScope } from './scopes.ts';

/** RFC 6749 §5.1 makes `expires_in` RECOMMENDED only; without it, assume healow's one hour. */
export const DEFAULT_EXPIRES_IN_SECONDS = 3600;

export interface TokenSet {
  /** Secret. */
  accessToken: string;
  tokenType: 'Bearer';
  /** Epoch ms: the clock at processing time plus `expires_in` (default 3600 s). */
  expiresAt: number;
  /**
   * The granted scopes from the response's `scope`; undefined when absent, meaning "as
   * requested" (RFC 6749 §5.1): keep the requested or previous grant (see `grantedScopes`).
   */
  scope: string[] | undefined;
  /** Secret. Undefined when none is returned: on refresh, keep the previous one (Cerner style). */
  refreshToken?: string | undefined;
  /** Not yet validated: pass it to `validateIdToken`. */
  idToken?: string | undefined;
  /** SMART launch context `patient`. */
  patient?: string | undefined;
  /** Other launch context fields (e.g. `encounter`, `need_patient_banner`), minus anything secret-looking. */
  extra: Record<string, unknown>;
}

interface TokenRequestBase {
  tokenEndpoint: string;
  auth: ClientAuthentication;
  clock: Clock;
  fetch?: typeof fetch | undefined;
  signal?: AbortSignal | undefined;
  /** Default 30 s. */
  timeoutMs?: number | undefined;
}

export interface AuthorizationCodeGrantParams extends TokenRequestBase {
  code: string;
  /** Exactly the redirect_uri of the authorize request (RFC 6749 §4.1.3). */
  redirectUri: string;
  /** The PKCE verifier kept since the authorize request (RFC 7636 §4.5). */
  codeVerifier: string;
}

export interface RefreshTokenGrantParams extends TokenRequestBase {
  refreshToken: string;
  /** RFC 6749 §6: optional, must not exceed the original grant; omitted means "the same". */
  scope?: readonly string[] | undefined;
}

/** Sends the RFC 6749 §4.1.3 code exchange with PKCE; returns the raw response. */
export function authorizationCodeGrantRequest(
  params: AuthorizationCodeGrantParams,
): Promise<Response> {
  const as = authorizationServer(params.tokenEndpoint);
  const client = clientOf(params.auth);
  // `state` was checked by the vault, where it is the key of the stored session; the library only
  // needs the code in its own checked form.
  const callback = oauth.validateAuthResponse(
    as,
    client,
    new URLSearchParams({ code: params.code }),
    oauth.skipStateCheck,
  );
  return oauth.authorizationCodeGrantRequest(
    as,
    client,
    params.auth.forRequest(params.tokenEndpoint, params.clock),
    callback,
    params.redirectUri,
    params.codeVerifier,
    requestOptions(params, 'token endpoint'),
  );
}

/** Sends the RFC 6749 §6 refresh, with the same client authentication as the code exchange. */
export function refreshTokenGrantRequest(params: RefreshTokenGrantParams): Promise<Response> {
  const scope = params.scope !== undefined && params.scope.length > 0 ? params.scope : undefined;
  return oauth.refreshTokenGrantRequest(
    authorizationServer(params.tokenEndpoint),
    clientOf(params.auth),
    params.auth.forRequest(params.tokenEndpoint, params.clock),
    params.refreshToken,
    {
      ...requestOptions(params, 'token endpoint'),
      ...(scope ? { additionalParameters: { scope: formatScope(scope) } } : {}),
    },
  );
}

/**
 * The authorization server as oauth4webapi wants it. Its `issuer` is required by the library but
 * compared with nothing here: id_tokens are left to the id_token validator (see `toTokenSet`).
 */
function authorizationServer(
  tokenEndpoint: string,
  revocationEndpoint?: string,
): oauth.AuthorizationServer {
  return {
    issuer: new URL(tokenEndpoint).origin,
    token_endpoint: tokenEndpoint,
    ...(revocationEndpoint === undefined ? {} : { revocation_endpoint: revocationEndpoint }),
  };
}

function clientOf(auth: ClientAuthentication): oauth.Client {
  return { client_id: auth.clientId };
}

/**
 * The library's request options: our fetch, with a timeout, the caller's abort, no redirects
 * followed, and a network failure reported as `upstream_error`. Plain http reaches here only for
 * an http (loopback) base: discovery refuses http endpoints on an https base.
 */
function requestOptions(params: TokenRequestBase, what: string) {
  const fetchImpl = params.fetch ?? globalThis.fetch;
  const { signal } = params;
  const send = async (url: string, init: oauth.CustomFetchOptions<'POST', URLSearchParams>) => {
    const timeout = AbortSignal.timeout(params.timeoutMs ?? 30_000);
    try {
      return await fetchImpl(url, {
        ...init,
        redirect: 'error',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (cause) {
      if (signal?.aborted) throw signal.reason;
      throw new BridgeError('upstream_error', `${what} ${url} did not answer: ${describe(cause)}`, {
        cause,
        details: { [what === 'token endpoint' ? 'tokenEndpoint' : 'revocationEndpoint']: url },
      });
    }
  };
  return {
    [oauth.customFetch]: send as typeof fetch,
    [oauth.allowInsecureRequests]: true,
  };
}

// The library reads issuer and client_id of these only to check an id_token, which it is never
// given (see `withoutIdToken`).
const ANSWER_CHECK_SERVER: oauth.AuthorizationServer = { issuer: 'urn:fhirbridge:unused' };
const ANSWER_CHECK_CLIENT: oauth.Client = { client_id: 'unused' };

// SMART launch context in a token answer: not OAuth, so not checked by the library.
const launchContextSchema = z.looseObject({
  patient: z.string().optional(),
});

// Read by the library or by us; everything else may go to `extra`.
const KNOWN_FIELDS = new Set([
  'access_token',
  'token_type',
  'expires_in',
  'scope',
  'refresh_token',
  'id_token',
  'patient',
]);
// Never copied into `extra`, whatever a server adds.
const SECRET_LOOKING = /token|secret|password|assertion|verifier|code|key/i;

/**
 * Checks a token endpoint answer through oauth4webapi. 2xx → a TokenSet. Otherwise a BridgeError:
 * 4xx → `token_rejected` with `status` and the §5.2 `oauth` fields when present (a 403 without
 * body included: healow reportedly answers a revoked refresh so); 429 → `rate_limited`;
 * 5xx → `upstream_error`. Messages never carry tokens.
 */
export async function processTokenResponse(
  response: Response,
  { clock }: { clock: Clock },
): Promise<TokenSet> {
  const text = await response.text().catch(() => '');
  const { forLibrary, idToken } = withoutIdToken(text);
  let json: oauth.TokenEndpointResponse;
  try {
    json = await oauth.processGenericTokenEndpointResponse(
      ANSWER_CHECK_SERVER,
      ANSWER_CHECK_CLIENT,
      replay(response, forLibrary),
    );
  } catch (error) {
    throw tokenErrorOf(error, response, text);
  }
  return toTokenSet(json, idToken, clock, response.status);
}

/**
 * The answer as the library is to see it: without the id_token, and without the empty or null
 * optional fields some servers send. The library compares an id_token's `iss` with the issuer
 * always; a practice found through its CapabilityStatement has none, and the id_token's
 * signature and claims are checked by the id_token validator against discovery's own values.
 */
function withoutIdToken(text: string): { forLibrary: string; idToken: string | undefined } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { forLibrary: text, idToken: undefined };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { forLibrary: text, idToken: undefined };
  }
  const { id_token: idToken, ...rest } = json as Record<string, unknown>;
  for (const name of ['refresh_token', 'scope', 'expires_in', 'patient'] as const) {
    if (rest[name] === null || rest[name] === '') delete rest[name];
  }
  return {
    forLibrary: JSON.stringify(rest),
    idToken: typeof idToken === 'string' && idToken !== '' ? idToken : undefined,
  };
}

function toTokenSet(
  json: oauth.TokenEndpointResponse,
  idToken: string | undefined,
  clock: Clock,
  status: number,
): TokenSet {
  // RFC 6749 §7.1: the library lowercases the type; only Bearer is supported here (no DPoP).
  if (json.token_type !== 'bearer') {
    throw invalidAnswer(['token_type'], status);
  }
  const context = launchContextSchema.safeParse(json);
  if (!context.success) throw invalidAnswer(['patient'], status);
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    if (!KNOWN_FIELDS.has(key) && !SECRET_LOOKING.test(key)) extra[key] = value;
  }
  return {
    accessToken: json.access_token,
    tokenType: 'Bearer',
    expiresAt: clock.now() + (json.expires_in ?? DEFAULT_EXPIRES_IN_SECONDS) * 1000,
    scope: json.scope === undefined ? undefined : parseScope(json.scope),
    refreshToken: json.refresh_token,
    idToken,
    patient: context.data.patient,
    extra,
  };
}

function invalidAnswer(fields: string[], status: number): BridgeError {
  return new BridgeError('upstream_error', `token response is invalid: ${fields.join(', ')}`, {
    status,
    details: { fields },
  });
}

/**
 * The same answer again, its body already read as `text`. A JSON object is labelled JSON whatever
 * the server called it: the library reads an error body only under a JSON content-type, and an
 * `invalid_grant` sent as text/plain is still the revocation it says.
 */
function replay(response: Response, text: string): Response {
  const headers = new Headers(response.headers);
  if (isJsonObject(text)) headers.set('content-type', 'application/json');
  return new Response(text === '' ? null : text, { status: response.status, headers });
}

function isJsonObject(text: string): boolean {
  try {
    const json: unknown = JSON.parse(text);
    return typeof json === 'object' && json !== null && !Array.isArray(json);
  } catch {
    return false;
  }
}

/** The library's refusal of an answer, as a BridgeError (never quoting the body's tokens). */
function tokenErrorOf(error: unknown, response: Response, text: string): BridgeError {
  if (error instanceof BridgeError) return error;
  if (error instanceof oauth.ResponseBodyError) {
    return endpointRefusal(response, {
      error: error.error,
      ...(error.error_description === undefined
        ? {}
        : { error_description: error.error_description }),
    });
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    // RFC 6749 §5.2: a 401 invalid_client names its scheme in WWW-Authenticate, as healow's
    // does. The library then reports the challenge and leaves the body unread; its `error`
    // (invalid_client) is read here.
    return endpointRefusal(response, oauthErrorIn(text));
  }
  if (!response.ok) return endpointRefusal(response, undefined);
  return unreadableAnswer(error, response.status);
}

function unreadableAnswer(error: unknown, status: number): BridgeError {
  const code = error instanceof oauth.OperationProcessingError ? error.code : undefined;
  if (code === oauth.RESPONSE_IS_NOT_JSON || code === oauth.PARSE_ERROR) {
    return new BridgeError('upstream_error', 'token response is not JSON', { status });
  }
  if (code === oauth.INVALID_RESPONSE) {
    const field = /"response" body "(\w+)" property/.exec((error as Error).message)?.[1];
    return invalidAnswer([field ?? '(root)'], status);
  }
  if (error instanceof oauth.UnsupportedOperationError)
    return invalidAnswer(['token_type'], status);
  return new BridgeError('upstream_error', `token response refused: ${describe(error)}`, {
    status,
  });
}

function oauthErrorIn(text: string): OAuthErrorFields | undefined {
  try {
    const parsed = oauthErrorSchema.safeParse(JSON.parse(text));
    if (!parsed.success) return undefined;
    return {
      error: parsed.data.error,
      ...(parsed.data.error_description === undefined
        ? {}
        : { error_description: parsed.data.error_description }),
    };
  } catch {
    return undefined;
  }
}

const oauthErrorSchema = z.looseObject({
  error: z.string().min(1),
  error_description: z.string().optional().catch(undefined),
});

interface OAuthErrorFields {
  error: string;
  error_description?: string;
}

function endpointRefusal(
  response: Response,
  oauthError: OAuthErrorFields | undefined,
): BridgeError {
  const { status } = response;
  const what = oauthError
    ? `${oauthError.error}${oauthError.error_description ? `: ${clip(oauthError.error_description)}` : ''}`
    : 'no OAuth error body';
  const oauthPart = oauthError ? { oauth: oauthError } : {};
  if (status === 429) {
    const retryAfter = response.headers.get('retry-after');
    return new BridgeError('rate_limited', `token endpoint answered 429 (${what})`, {
      status,
      ...oauthPart,
      ...(retryAfter ? { details: { retryAfter } } : {}),
    });
  }
  const code = status >= 500 ? 'upstream_error' : 'token_rejected';
  return new BridgeError(code, `token endpoint answered ${status} (${what})`, {
    status,
    ...oauthPart,
  });
}

/**
 * True when a token error means the grant is gone (the patient revoked it, or the refresh token
 * was used or expired): RFC 6749 §5.2 `invalid_grant`, or a 403 (healow, reported). The vault
 * marks the connection `revoked` rather than retrying.
 */
export function isRevocation(err: unknown): boolean {
  return (
    isBridgeError(err, 'token_rejected') &&
    (err.oauth?.error === 'invalid_grant' || err.status === 403)
  );
}

/** RFC 7009 §2.1 `token_type_hint` values. */
export type RevocationTokenType = 'refresh_token' | 'access_token';

export interface RevocationParams extends Omit<TokenRequestBase, 'tokenEndpoint'> {
  /** The server's `revocation_endpoint` (SMART configuration, RFC 8414 §2). */
  revocationEndpoint: string;
  /**
   * The audience of a client assertion: the token endpoint, the one URL every server accepts as
   * its own (RFC 7523 §3), whichever endpoint the assertion is sent to.
   */
  tokenEndpoint: string;
  token: string;
  tokenTypeHint: RevocationTokenType;
}

/**
 * Sends the RFC 7009 §2.1 revocation request, with the same client authentication as every
 * token call. Revoking the refresh token also ends the grant's access tokens where the server
 * supports it (§2.1: "SHOULD").
 */
export function tokenRevocationRequest(params: RevocationParams): Promise<Response> {
  return oauth.revocationRequest(
    authorizationServer(params.tokenEndpoint, params.revocationEndpoint),
    clientOf(params.auth),
    params.auth.forRequest(params.tokenEndpoint, params.clock),
    params.token,
    {
      ...requestOptions(params, 'revocation endpoint'),
      additionalParameters: { token_type_hint: params.tokenTypeHint },
    },
  );
}

/**
 * Checks a revocation answer: RFC 7009 §2.2 answers 200 for a revoked and for an unknown token
 * alike; anything else is an error (§2.2.1 `unsupported_token_type`, 503 with Retry-After, ...).
 */
export async function processRevocationResponse(response: Response): Promise<void> {
  const text = await response.text().catch(() => '');
  try {
    await oauth.processRevocationResponse(replay(response, text));
  } catch (error) {
    throw tokenErrorOf(error, response, text);
  }
}

/** Revocation, sent and checked. */
export async function revokeToken(params: RevocationParams): Promise<void> {
  return processRevocationResponse(await tokenRevocationRequest(params));
}

/** Code exchange, sent and checked. */
export async function exchangeCode(params: AuthorizationCodeGrantParams): Promise<TokenSet> {
  return processTokenResponse(await authorizationCodeGrantRequest(params), params);
}

/** Refresh, sent and checked. A missing `refreshToken` in the result means "keep the old one". */
export async function refreshTokens(params: RefreshTokenGrantParams): Promise<TokenSet> {
  return processTokenResponse(await refreshTokenGrantRequest(params), params);
}

function clip(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strip control characters from upstream text
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

function describe(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = cause.cause;
  if (inner && typeof inner === 'object' && 'code' in inner && typeof inner.code === 'string') {
    return inner.code;
  }
  return cause.name === 'TimeoutError' ? 'timed out' : cause.message;
}
