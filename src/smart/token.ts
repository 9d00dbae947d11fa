// Token endpoint requests (RFC 6749 §4.1.3 code exchange, §6 refresh) and the check of their
// answers (§5.1 success, §5.2 error), as separate send and process functions. Client
// authentication is a value applied to every request alike.
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
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: params.code,
    redirect_uri: params.redirectUri,
    code_verifier: params.codeVerifier,
  });
  return tokenRequest(params, body);
}

/** Sends the RFC 6749 §6 refresh, with the same client authentication as the code exchange. */
export function refreshTokenGrantRequest(params: RefreshTokenGrantParams): Promise<Response> {
  const body = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: params.refreshToken,
  });
  if (params.scope !== undefined && params.scope.length > 0) {
    body.set('scope', formatScope(params.scope));
  }
  return tokenRequest(params, body);
}

async function tokenRequest(params: TokenRequestBase, body: URLSearchParams): Promise<Response> {
  const { tokenEndpoint, auth, clock, fetch: fetchImpl = globalThis.fetch, signal } = params;
  const headers = new Headers({
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
  });
  await auth.apply(tokenEndpoint, body, headers, clock);
  const timeout = AbortSignal.timeout(params.timeoutMs ?? 30_000);
  try {
    return await fetchImpl(tokenEndpoint, {
      method: 'POST',
      headers,
      body,
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      redirect: 'error',
    });
  } catch (cause) {
    if (signal?.aborted) throw signal.reason;
    throw new BridgeError(
      'upstream_error',
      `token endpoint ${tokenEndpoint} did not answer: ${describe(cause)}`,
      {
        cause,
        details: { tokenEndpoint },
      },
    );
  }
}

const optionalString = z
  .string()
  .nullish()
  .transform((v) => (v === '' || v === null ? undefined : v));

const tokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  // RFC 6749 §7.1: the type is case-insensitive; only Bearer is supported (no DPoP).
  token_type: z.string().refine((t) => t.toLowerCase() === 'bearer', 'not Bearer'),
  expires_in: z
    .union([z.number(), z.string().regex(/^\d+$/).transform(Number)])
    .pipe(z.number().nonnegative())
    .nullish(),
  scope: z.string().nullish(),
  refresh_token: optionalString,
  id_token: optionalString,
  patient: optionalString,
});

const oauthErrorSchema = z.looseObject({
  error: z.string().min(1),
  error_description: z.string().optional().catch(undefined),
});

const KNOWN_FIELDS = new Set(Object.keys(tokenResponseSchema.shape));
// Never copied into `extra`, whatever a server adds.
const SECRET_LOOKING = /token|secret|password|assertion|verifier|code|key/i;

/**
 * Checks a token endpoint answer. 2xx → a TokenSet (zod-validated). Otherwise a BridgeError:
 * 4xx → `token_rejected` with `status` and the §5.2 `oauth` fields when present (a 403 without
 * body included: healow reportedly answers a revoked refresh so); 429 → `rate_limited`;
 * 5xx → `upstream_error`. Messages never carry tokens.
 */
export async function processTokenResponse(
  response: Response,
  { clock }: { clock: Clock },
): Promise<TokenSet> {
  const text = await response.text().catch(() => '');
  if (!response.ok) throw tokenErrorFrom(response, text);

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BridgeError('upstream_error', 'token response is not JSON', {
      status: response.status,
    });
  }
  const parsed = tokenResponseSchema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? '(root)')))];
    throw new BridgeError('upstream_error', `token response is invalid: ${fields.join(', ')}`, {
      status: response.status,
      details: { fields },
    });
  }
  const data = parsed.data;
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (!KNOWN_FIELDS.has(key) && !SECRET_LOOKING.test(key)) extra[key] = value;
  }
  return {
    accessToken: data.access_token,
    tokenType: 'Bearer',
    expiresAt: clock.now() + (data.expires_in ?? DEFAULT_EXPIRES_IN_SECONDS) * 1000,
    scope: data.scope === undefined || data.scope === null ? undefined : parseScope(data.scope),
    refreshToken: data.refresh_token,
    idToken: data.id_token,
    patient: data.patient,
    extra,
  };
}

function tokenErrorFrom(response: Response, text: string): BridgeError {
  const { status } = response;
  let oauth: { error: string; error_description?: string } | undefined;
  try {
    const parsed = oauthErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      oauth = { error: parsed.data.error };
      if (parsed.data.error_description !== undefined) {
        oauth.error_description = parsed.data.error_description;
      }
    }
  } catch {
    // Not JSON (an HTML error page, an empty 403): the status alone speaks.
  }
  const what = oauth
    ? `${oauth.error}${oauth.error_description ? `: ${clip(oauth.error_description)}` : ''}`
    : 'no OAuth error body';
  if (status === 429) {
    const retryAfter = response.headers.get('retry-after');
    return new BridgeError('rate_limited', `token endpoint answered 429 (${what})`, {
      status,
      ...(oauth ? { oauth } : {}),
      ...(retryAfter ? { details: { retryAfter } } : {}),
    });
  }
  const code = status >= 500 ? 'upstream_error' : 'token_rejected';
  return new BridgeError(code, `token endpoint answered ${status} (${what})`, {
    status,
    ...(oauth ? { oauth } : {}),
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
export async function tokenRevocationRequest(params: RevocationParams): Promise<Response> {
  const body = new URLSearchParams({ token: params.token, token_type_hint: params.tokenTypeHint });
  const headers = new Headers({
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
  });
  await params.auth.apply(params.tokenEndpoint, body, headers, params.clock);
  const fetchImpl = params.fetch ?? globalThis.fetch;
  const timeout = AbortSignal.timeout(params.timeoutMs ?? 30_000);
  try {
    return await fetchImpl(params.revocationEndpoint, {
      method: 'POST',
      headers,
      body,
      signal: params.signal ? AbortSignal.any([params.signal, timeout]) : timeout,
      redirect: 'error',
    });
  } catch (cause) {
    throw new BridgeError(
      'upstream_error',
      `revocation endpoint ${params.revocationEndpoint} did not answer: ${describe(cause)}`,
      { cause, details: { revocationEndpoint: params.revocationEndpoint } },
    );
  }
}

/**
 * Checks a revocation answer: RFC 7009 §2.2 answers 200 for a revoked and for an unknown token
 * alike; anything else is an error (§2.2.1 `unsupported_token_type`, 503 with Retry-After, ...).
 */
export async function processRevocationResponse(response: Response): Promise<void> {
  const text = await response.text().catch(() => '');
  if (response.status === 200) return;
  throw tokenErrorFrom(response, text);
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
