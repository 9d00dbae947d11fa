import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../common/clock.ts';
import { ManualClock } from '../common/clock.ts';
import {
  type ClientAuthentication,
  clientSecretBasic,
  JWT_BEARER_ASSERTION_TYPE,
  privateKeyJwt,
  publicClient,
} from './client-auth.ts';
import { startTestServer, type TestServer } from './server.test-helper.ts';
import { generateTestKey, type TestKey, testSigner } from './signer.test-helper.ts';
import { authorizationCodeGrantRequest, refreshTokenGrantRequest } from './token.ts';

let key: TestKey;
let server: TestServer;
let tokenEndpoint: string;
const clock = new ManualClock(Date.UTC(2026, 2, 1, 12));
const verified: Array<Record<string, unknown>> = [];

/** What a token request does with the value: let its oauth4webapi authentication fill in. */
async function apply(
  auth: ClientAuthentication,
  tokenEndpoint: string,
  body: URLSearchParams,
  headers: Headers,
  at: Clock,
): Promise<void> {
  const as = { issuer: 'https://fhir.example/r4/P1', token_endpoint: tokenEndpoint };
  await auth.forRequest(tokenEndpoint, at)(as, { client_id: auth.clientId }, body, headers);
}

beforeAll(async () => {
  key = await generateTestKey('kid-1');
  // The token endpoint checks the assertion the way healow does: RS384 only, typ JWT, known kid.
  server = await startTestServer(async (req) => {
    const form = new URLSearchParams(req.body);
    const assertion = form.get('client_assertion');
    if (form.get('client_assertion_type') !== JWT_BEARER_ASSERTION_TYPE || !assertion) {
      return { status: 401, body: { error: 'invalid_client' } };
    }
    const header = decodeProtectedHeader(assertion);
    if (header.kid !== key.kid || header.typ !== 'JWT') {
      return { status: 401, body: { error: 'invalid_client' } };
    }
    const { payload } = await jwtVerify(assertion, key.publicKey, {
      algorithms: ['RS384'],
      audience: tokenEndpoint,
      issuer: 'app-1',
      subject: 'app-1',
      currentDate: new Date(clock.now()),
      requiredClaims: ['jti', 'exp', 'iat'],
    });
    verified.push({ ...payload, client_id: form.get('client_id') });
    return { body: { access_token: 'at', token_type: 'Bearer' } };
  });
  tokenEndpoint = `${server.url}/oauth/oauth2/token`;
});
afterAll(() => server.close());

describe('privateKeyJwt', () => {
  it('signs an RS384 assertion healow accepts, on the code exchange and every refresh', async () => {
    const auth = privateKeyJwt({ clientId: 'app-1', signer: testSigner(key) });
    expect(auth.method).toBe('private_key_jwt');
    const common = { tokenEndpoint, auth, clock };
    const first = await authorizationCodeGrantRequest({
      ...common,
      code: 'c',
      redirectUri: 'https://app/cb',
      codeVerifier: 'v',
    });
    const second = await refreshTokenGrantRequest({ ...common, refreshToken: 'rt' });
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(verified).toHaveLength(2);
    const [a, b] = verified;
    const now = Math.floor(clock.now() / 1000);
    expect(a).toMatchObject({ iss: 'app-1', sub: 'app-1', aud: tokenEndpoint, iat: now });
    expect(a?.client_id).toBe('app-1');
    expect((a?.exp as number) - now).toBeGreaterThanOrEqual(60);
    expect((a?.exp as number) - now).toBeLessThanOrEqual(300);
    expect(a?.jti).toEqual(expect.any(String));
    expect(a?.jti).not.toBe(b?.jti);
    const header = decodeProtectedHeader(
      new URLSearchParams(server.requests[0]?.body).get('client_assertion') ?? '',
    );
    expect(header).toEqual({ alg: 'RS384', typ: 'JWT', kid: 'kid-1' });
  });

  it('follows the injected clock and never exceeds five minutes', async () => {
    const body = new URLSearchParams();
    const at = new ManualClock(Date.UTC(2030, 0, 1));
    const auth = privateKeyJwt({
      clientId: 'c',
      signer: testSigner(key),
      assertionLifetimeSeconds: 300,
    });
    await apply(auth, 'https://as/token', body, new Headers(), at);
    const assertion = body.get('client_assertion') ?? '';
    expect(decodeJwt(assertion)).toMatchObject({
      aud: 'https://as/token',
      iat: Date.UTC(2030, 0, 1) / 1000,
      exp: Date.UTC(2030, 0, 1) / 1000 + 300,
    });
    expect(body.get('client_assertion_type')).toBe(JWT_BEARER_ASSERTION_TYPE);
    for (const bad of [59, 301, 120.5]) {
      expect(() =>
        privateKeyJwt({ clientId: 'c', signer: testSigner(key), assertionLifetimeSeconds: bad }),
      ).toThrow(/60\.\.300/);
    }
  });
});

describe('clientSecretBasic', () => {
  it('form-urlencodes id and secret before base64 (RFC 6749 §2.3.1)', async () => {
    const clientId = 'app:1';
    const clientSecret = 'p@ss:w/rd+ é%&=~*';
    const headers = new Headers();
    const body = new URLSearchParams();
    const auth = clientSecretBasic({ clientId, clientSecret });
    await apply(auth, 'https://as/token', body, headers, clock);
    const header = headers.get('authorization') ?? '';
    expect(header.startsWith('Basic ')).toBe(true);
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    expect(decoded).toBe('app%3A1:p%40ss%3Aw%2Frd%2B+%C3%A9%25%26%3D%7E%2A');
    // What a server does: split at the first ':' then form-decode each half.
    const [id, secret] = decoded.split(':').map((s) => new URLSearchParams(`v=${s}`).get('v'));
    expect([id, secret]).toEqual([clientId, clientSecret]);
    expect(body.toString()).toBe('');
  });
});

describe('publicClient', () => {
  it('sends client_id in the body and no Authorization header', async () => {
    const headers = new Headers();
    const body = new URLSearchParams();
    const auth = publicClient({ clientId: 'pub-1' });
    await apply(auth, 'https://as/token', body, headers, clock);
    expect(auth.method).toBe('none');
    expect(body.get('client_id')).toBe('pub-1');
    expect(headers.has('authorization')).toBe(false);
  });
});
