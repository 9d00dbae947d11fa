import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { type BridgeError, isBridgeError } from '../common/errors.ts';
import { clientSecretBasic, publicClient } from './client-auth.ts';
import { deadUrl, type Reply, startTestServer, type TestServer } from './server.test-helper.ts';
import {
  authorizationCodeGrantRequest,
  exchangeCode,
  isRevocation,
  processRevocationResponse,
  processTokenResponse,
  refreshTokenGrantRequest,
  refreshTokens,
  revokeToken,
} from './token.ts';

let server: TestServer;
let tokenEndpoint: string;
const clock = new ManualClock(Date.UTC(2026, 2, 1, 12));
const SECRETS = ['the-code', 'the-verifier', 'the-refresh-token', 'sh-secret', 'the-access-token'];

beforeAll(async () => {
  server = await startTestServer();
  tokenEndpoint = `${server.url}/oauth/oauth2/token`;
});
afterAll(() => server.close());

function reply(r: Reply) {
  server.requests.length = 0;
  server.handle(() => r);
}

async function rejection(promise: Promise<unknown>): Promise<BridgeError> {
  try {
    await promise;
  } catch (err) {
    if (isBridgeError(err)) {
      for (const secret of SECRETS) expect(err.message).not.toContain(secret);
      return err;
    }
    throw err;
  }
  throw new Error('expected a BridgeError');
}

/** HTTP Basic credentials as a server reads them (RFC 6749 §2.3.1: each half form-decoded). */
function basicCredentials(header: string | undefined): string[] {
  const decoded = Buffer.from((header ?? '').replace(/^Basic /, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return [decoded.slice(0, colon), decoded.slice(colon + 1)].map(
    (half) => new URLSearchParams(`v=${half}`).get('v') ?? '',
  );
}

const refresh = () =>
  refreshTokens({
    tokenEndpoint,
    auth: clientSecretBasic({ clientId: 'app', clientSecret: 'sh-secret' }),
    refreshToken: 'the-refresh-token',
    clock,
  });

describe('token requests', () => {
  it('sends the code exchange as a form POST with PKCE and client authentication', async () => {
    reply({ body: { access_token: 'a', token_type: 'Bearer' } });
    const response = await authorizationCodeGrantRequest({
      tokenEndpoint,
      auth: publicClient({ clientId: 'pub' }),
      code: 'the-code',
      redirectUri: 'https://app.example/cb?x=1',
      codeVerifier: 'the-verifier',
      clock,
    });
    expect(response.status).toBe(200);
    const [req] = server.requests;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/oauth/oauth2/token');
    expect(req?.headers.accept).toBe('application/json');
    expect(req?.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(Object.fromEntries(new URLSearchParams(req?.body))).toEqual({
      grant_type: 'authorization_code',
      code: 'the-code',
      redirect_uri: 'https://app.example/cb?x=1',
      code_verifier: 'the-verifier',
      client_id: 'pub',
    });
  });

  it('sends a refresh with client authentication and an optional scope', async () => {
    reply({ body: { access_token: 'a', token_type: 'Bearer' } });
    await refreshTokenGrantRequest({
      tokenEndpoint,
      auth: clientSecretBasic({ clientId: 'app', clientSecret: 'sh-secret' }),
      refreshToken: 'the-refresh-token',
      scope: ['openid', 'patient/Patient.read'],
      clock,
    });
    const [req] = server.requests;
    expect(basicCredentials(req?.headers.authorization)).toEqual(['app', 'sh-secret']);
    expect(Object.fromEntries(new URLSearchParams(req?.body))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'the-refresh-token',
      scope: 'openid patient/Patient.read',
    });
  });
});

describe('processTokenResponse', () => {
  it('reads a healow token response', async () => {
    reply({
      body: {
        access_token: 'the-access-token',
        token_type: 'bearer',
        expires_in: 3600,
        scope: 'openid fhirUser patient/Patient.read',
        refresh_token: 'the-refresh-token',
        id_token: 'h.p.s',
        patient: 'pat-1',
        need_patient_banner: false,
        encounter: 'enc-1',
        some_other_token: 'do-not-copy',
      },
    });
    const tokens = await exchangeCode({
      tokenEndpoint,
      auth: publicClient({ clientId: 'pub' }),
      code: 'the-code',
      redirectUri: 'https://app/cb',
      codeVerifier: 'the-verifier',
      clock,
    });
    expect(tokens).toEqual({
      accessToken: 'the-access-token',
      tokenType: 'Bearer',
      expiresAt: clock.now() + 3_600_000,
      scope: ['openid', 'fhirUser', 'patient/Patient.read'],
      refreshToken: 'the-refresh-token',
      idToken: 'h.p.s',
      patient: 'pat-1',
      extra: { need_patient_banner: false, encounter: 'enc-1' },
    });
  });

  it('defaults expires_in to 3600 s and leaves scope and refresh token undefined when absent', async () => {
    const later = new ManualClock(clock.now() + 5000);
    const tokens = await processTokenResponse(
      Response.json({ access_token: 'x', token_type: 'Bearer', expires_in: '600' }),
      { clock: later },
    );
    expect(tokens.expiresAt).toBe(later.now() + 600_000);
    const bare = await processTokenResponse(
      Response.json({ access_token: 'x', token_type: 'Bearer', refresh_token: null }),
      { clock: later },
    );
    expect(bare.expiresAt).toBe(later.now() + 3_600_000);
    expect(bare.scope).toBeUndefined();
    expect(bare.refreshToken).toBeUndefined();
  });

  it('refuses a 200 that is not a Bearer token response, without echoing it', async () => {
    for (const body of [
      { token_type: 'Bearer' },
      { access_token: 'the-access-token', token_type: 'DPoP' },
      { access_token: 'the-access-token', token_type: 'Bearer', expires_in: -1 },
    ]) {
      const err = await rejection(processTokenResponse(Response.json(body), { clock }));
      expect(err.code).toBe('upstream_error');
    }
    const html = await rejection(
      processTokenResponse(new Response('<html>', { status: 200 }), { clock }),
    );
    expect(html.message).toMatch(/not JSON/);
  });

  it('maps 400 invalid_grant to token_rejected, a revocation', async () => {
    reply({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'refresh token revoked' },
    });
    const err = await rejection(refresh());
    expect(err).toMatchObject({
      code: 'token_rejected',
      status: 400,
      oauth: { error: 'invalid_grant', error_description: 'refresh token revoked' },
    });
    expect(err.message).toContain('invalid_grant');
    expect(isRevocation(err)).toBe(true);
  });

  it('maps 401 invalid_client to token_rejected, not a revocation', async () => {
    reply({ status: 401, body: { error: 'invalid_client' } });
    const err = await rejection(refresh());
    expect(err).toMatchObject({
      code: 'token_rejected',
      status: 401,
      oauth: { error: 'invalid_client' },
    });
    expect(isRevocation(err)).toBe(false);
  });

  it('reads invalid_client from a 401 that names its scheme in WWW-Authenticate', async () => {
    // RFC 6749 §5.2, as healow answers a bad client assertion. oauth4webapi reports such an
    // answer as a challenge and leaves its body unread; the error code is read here.
    reply({
      status: 401,
      headers: { 'www-authenticate': 'Basic realm="oauth"' },
      body: { error: 'invalid_client', error_description: 'kid unknown' },
    });
    const err = await rejection(refresh());
    expect(err).toMatchObject({
      code: 'token_rejected',
      status: 401,
      oauth: { error: 'invalid_client', error_description: 'kid unknown' },
    });
  });

  it('leaves the id_token to the id_token validator, whatever its issuer', async () => {
    // oauth4webapi would compare the id_token's iss with an issuer this function does not know
    // (a practice found through its CapabilityStatement has none) and refuse the whole answer.
    const claims = { iss: 'https://fhir.example/r4/P1', sub: 'p', aud: 'pub', iat: 1, exp: 2 };
    const part = (json: object) => Buffer.from(JSON.stringify(json)).toString('base64url');
    const idToken = `${part({ alg: 'RS384' })}.${part(claims)}.c2ln`;
    const tokens = await processTokenResponse(
      Response.json({ access_token: 'x', token_type: 'Bearer', id_token: idToken }),
      { clock },
    );
    expect(tokens.idToken).toBe(idToken);
  });

  it('maps a 403 without body to token_rejected 403, a revocation', async () => {
    reply({ status: 403 });
    const err = await rejection(refresh());
    expect(err).toMatchObject({ code: 'token_rejected', status: 403, oauth: undefined });
    expect(isRevocation(err)).toBe(true);
  });

  it('maps a 500 HTML page to upstream_error, not a revocation', async () => {
    reply({ status: 500, headers: { 'content-type': 'text/html' }, body: '<html>oops</html>' });
    const err = await rejection(refresh());
    expect(err).toMatchObject({ code: 'upstream_error', status: 500, oauth: undefined });
    expect(isRevocation(err)).toBe(false);
  });

  it('maps 429 to rate_limited with any Retry-After', async () => {
    reply({ status: 429, headers: { 'retry-after': '17' }, body: '' });
    const err = await rejection(refresh());
    expect(err).toMatchObject({ code: 'rate_limited', status: 429, details: { retryAfter: '17' } });
    expect(isRevocation(err)).toBe(false);
  });

  it('maps a network failure to upstream_error', async () => {
    const err = await rejection(
      refreshTokens({
        tokenEndpoint: `${await deadUrl()}/token`,
        auth: publicClient({ clientId: 'pub' }),
        refreshToken: 'the-refresh-token',
        clock,
      }),
    );
    expect(err.code).toBe('upstream_error');
    expect(isRevocation(err)).toBe(false);
  });

  it('passes a caller abort through unchanged', async () => {
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    await expect(
      refreshTokens({
        tokenEndpoint,
        auth: publicClient({ clientId: 'pub' }),
        refreshToken: 'x',
        clock,
        signal: controller.signal,
      }),
    ).rejects.toThrow('shutting down');
  });
});

describe('token revocation (RFC 7009)', () => {
  const revoke = () =>
    revokeToken({
      revocationEndpoint: `${server.url}/oauth/revoke`,
      tokenEndpoint,
      auth: clientSecretBasic({ clientId: 'app', clientSecret: 'sh-secret' }),
      token: 'the-refresh-token',
      tokenTypeHint: 'refresh_token',
      clock,
    });

  it('sends the token and its type hint to the revocation endpoint with client authentication', async () => {
    reply({ status: 200, body: '' });
    await revoke();
    const [req] = server.requests;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/oauth/revoke');
    expect(basicCredentials(req?.headers.authorization)).toEqual(['app', 'sh-secret']);
    expect(Object.fromEntries(new URLSearchParams(req?.body))).toEqual({
      token: 'the-refresh-token',
      token_type_hint: 'refresh_token',
    });
  });

  it('takes a 200 as done (a revoked and an unknown token alike), anything else as an error', async () => {
    await expect(processRevocationResponse(new Response('', { status: 200 }))).resolves.toBe(
      undefined,
    );
    const refused = await rejection(
      processRevocationResponse(
        new Response('{"error":"unsupported_token_type"}', { status: 400 }),
      ),
    );
    expect(refused.code).toBe('token_rejected');
    expect(refused.oauth?.error).toBe('unsupported_token_type');
    const down = await rejection(processRevocationResponse(new Response('', { status: 503 })));
    expect(down.code).toBe('upstream_error');
  });

  it('reports an unreachable endpoint as upstream_error without the token', async () => {
    const err = await rejection(
      revokeToken({
        revocationEndpoint: await deadUrl(),
        tokenEndpoint,
        auth: clientSecretBasic({ clientId: 'app', clientSecret: 'sh-secret' }),
        token: 'the-refresh-token',
        tokenTypeHint: 'refresh_token',
        clock,
      }),
    );
    expect(err.code).toBe('upstream_error');
  });
});
