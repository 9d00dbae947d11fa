// The authorization request of a SMART standalone launch (SMART App Launch 2 §"Obtain
// authorization code", RFC 6749 §4.1.1) with PKCE S256 (RFC 7636, by oauth4webapi), state and
// nonce. oauth4webapi has no authorize URL builder (it leaves the URL to the caller), so the URL
// with healow's parameters (`aud`, S256 always) is built here.
import * as oauth from 'oauth4webapi';
import { BridgeError } from '../common/errors.ts';
import { randomToken } from '../common/random.ts';
import { normalizeBaseUrl } from './base-url.ts';
import { formatScope } from './scopes.ts';

export interface Pkce {
  /** RFC 7636 §4.1 `code_verifier`: a secret, kept server-side until the code exchange. */
  verifier: string;
  /** RFC 7636 §4.2 `code_challenge` = BASE64URL(SHA256(verifier)). */
  challenge: string;
  method: 'S256';
}

/** RFC 7636 §4.2 S256 transform. */
export function pkceChallenge(verifier: string): Promise<string> {
  return oauth.calculatePKCECodeChallenge(verifier);
}

/** A fresh PKCE pair: 32 random bytes → a 43-character verifier (RFC 7636 §4.1). */
export async function createPkce(): Promise<Pkce> {
  const verifier = oauth.generateRandomCodeVerifier();
  return { verifier, challenge: await pkceChallenge(verifier), method: 'S256' };
}

export interface AuthorizeUrlParams {
  /** From discovery. */
  authorizationEndpoint: string;
  clientId: string;
  /** Must equal a registered redirect URI exactly (healow: a trailing slash differs). */
  redirectUri: string;
  scope: readonly string[];
  state: string;
  /** The FHIR base; sent without a trailing slash, as healow compares it exactly. */
  aud: string;
  codeChallenge: string;
  nonce?: string | undefined;
  /** Extra parameters some servers want (e.g. healow's unconfirmed `practice_code`). */
  extraParams?: Record<string, string> | undefined;
}

// Parameters this module owns; extraParams may not change them (PKCE S256 is always sent).
const RESERVED = new Set([
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'aud',
  'code_challenge',
  'code_challenge_method',
  'nonce',
]);

/** The URL to send the patient's browser to. */
export function buildAuthorizeUrl(params: AuthorizeUrlParams): string {
  let url: URL;
  try {
    url = new URL(params.authorizationEndpoint);
  } catch {
    throw new BridgeError('invalid_request', 'authorization endpoint is not an absolute URL');
  }
  if (params.scope.length === 0 || params.scope.some((s) => s === '' || /\s/.test(s))) {
    throw new BridgeError(
      'invalid_request',
      'scope must be a non-empty list of scopes without spaces',
    );
  }
  for (const [name, value] of Object.entries({
    clientId: params.clientId,
    redirectUri: params.redirectUri,
    state: params.state,
    codeChallenge: params.codeChallenge,
  })) {
    if (value === '') throw new BridgeError('invalid_request', `${name} must not be empty`);
  }

  const query = url.searchParams;
  query.set('response_type', 'code');
  query.set('client_id', params.clientId);
  query.set('redirect_uri', params.redirectUri);
  query.set('scope', formatScope(params.scope));
  query.set('state', params.state);
  query.set('aud', normalizeBaseUrl(params.aud));
  query.set('code_challenge', params.codeChallenge);
  query.set('code_challenge_method', 'S256');
  if (params.nonce !== undefined) query.set('nonce', params.nonce);
  for (const [name, value] of Object.entries(params.extraParams ?? {})) {
    if (RESERVED.has(name)) {
      throw new BridgeError('invalid_request', `extraParams may not set "${name}"`);
    }
    query.set(name, value);
  }
  return url.toString();
}

export interface AuthorizeRequest {
  url: string;
  /** 256 random bits; single use; the caller binds it to the browser session. */
  state: string;
  nonce: string | undefined;
  /** Secret: store server-side for the code exchange, never log or send to the browser. */
  codeVerifier: string;
}

/** Generates state, nonce (unless `nonce: false`) and PKCE, and builds the authorize URL. */
export async function createAuthorizeRequest(
  params: Omit<AuthorizeUrlParams, 'state' | 'codeChallenge' | 'nonce'> & {
    /** Send an OpenID Connect nonce (default true; only meaningful with `openid`). */
    nonce?: boolean;
  },
): Promise<AuthorizeRequest> {
  const { nonce: wantNonce = true, ...rest } = params;
  const state = randomToken(32);
  const nonce = wantNonce ? randomToken(32) : undefined;
  const pkce = await createPkce();
  const url = buildAuthorizeUrl({ ...rest, state, nonce, codeChallenge: pkce.challenge });
  return { url, state, nonce, codeVerifier: pkce.verifier };
}
