import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeCode,
  basicAuth,
  startTestSimulator,
  TEST_REDIRECT,
  type TestSimulator,
  tokenRequest,
} from '../simulator.test-helper.ts';

const SECRET = 'symmetric-secret-123';
const FULL = 'openid fhirUser offline_access launch/patient patient/Patient.read';

describe('token endpoint', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({
      registrations: [
        { clientId: 'pub', type: 'public', redirectUris: [TEST_REDIRECT], appName: 'Pub' },
        { clientId: 'pub2', type: 'public', redirectUris: [TEST_REDIRECT], appName: 'Pub2' },
        {
          clientId: 'sym',
          type: 'confidential-symmetric',
          clientSecret: SECRET,
          redirectUris: [TEST_REDIRECT],
          appName: 'Sym',
        },
      ],
    });
  });
  afterAll(() => sim.close());

  const codeFor = (clientId: string, extra: Record<string, string> = {}) =>
    authorizeCode(sim, { clientId, scope: FULL, ...extra });
  const exchange = (
    code: string,
    verifier: string,
    form: Record<string, string> = { client_id: 'pub' },
    headers: Record<string, string> = {},
  ) =>
    tokenRequest(
      sim.origin,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: TEST_REDIRECT,
        code_verifier: verifier,
        ...form,
      },
      headers,
    );
  const symTokens = async () => {
    const { code, verifier } = await codeFor('sym');
    const token = await exchange(code, verifier, {}, { authorization: basicAuth('sym', SECRET) });
    expect(token.status).toBe(200);
    return token.body;
  };
  const refresh = (refreshToken: string, headers = { authorization: basicAuth('sym', SECRET) }) =>
    tokenRequest(sim.origin, { grant_type: 'refresh_token', refresh_token: refreshToken }, headers);
  const readPatient = (token: unknown, id: unknown) =>
    fetch(`${sim.base()}/Patient/${id}`, { headers: { authorization: `Bearer ${token}` } });

  it('exchanges a code of a public client, never with a refresh token', async () => {
    const { code, verifier } = await codeFor('pub', { nonce: 'n-1' });
    const token = await exchange(code, verifier);
    expect(token.status).toBe(200);
    expect(token.headers.get('cache-control')).toBe('no-store');
    expect(token.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: FULL });
    expect(token.body.access_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(token.body.patient).toBe('jafjcd.adultfemalefhir-1');
    expect(token.body.refresh_token).toBeUndefined();
    expect((await readPatient(token.body.access_token, token.body.patient)).status).toBe(200);
  });

  it('signs the id_token with a key published at /jwks, with healow claims', async () => {
    const { code, verifier } = await codeFor('pub', { nonce: 'n-2' });
    const token = await exchange(code, verifier);
    const idToken = String(token.body.id_token);
    const jwks = await (await fetch(`${sim.origin}/oauth/oauth2/jwks`)).json();
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(jwks.keys[0].d).toBeUndefined();
    const { payload, protectedHeader } = await jwtVerify(idToken, createLocalJWKSet(jwks), {
      issuer: sim.base(),
      audience: 'pub',
      currentDate: new Date(sim.clock.now()),
    });
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT', kid: jwks.keys[0].kid });
    expect(payload).toMatchObject({
      sub: 'jafjcd.adultfemalefhir-1',
      nonce: 'n-2',
      fhirUser: `${sim.base()}/Patient/jafjcd.adultfemalefhir-1`,
      name: 'Name of jafjcd.adultfemalefhir-1',
      email: 'adultfemalefhir@example.com',
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(typeof payload.profile).toBe('string');
  });

  it('makes the code single-use, bound to client, redirect_uri and verifier, 60 s long', async () => {
    const first = await codeFor('pub');
    expect((await exchange(first.code, first.verifier)).status).toBe(200);
    const reuse = await exchange(first.code, first.verifier);
    expect(reuse).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

    const other = await codeFor('pub');
    expect(await exchange(other.code, other.verifier, { client_id: 'pub2' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });

    const slash = await codeFor('pub');
    const wrongRedirect = await tokenRequest(sim.origin, {
      grant_type: 'authorization_code',
      code: slash.code,
      redirect_uri: `${TEST_REDIRECT}/`,
      code_verifier: slash.verifier,
      client_id: 'pub',
    });
    expect(wrongRedirect.body.error).toBe('invalid_grant');

    const verifier = await codeFor('pub');
    const wrong = await exchange(verifier.code, `${verifier.verifier.slice(0, -2)}xx`);
    expect(wrong.body.error).toBe('invalid_grant');
    // A failed verifier spends the code too.
    expect((await exchange(verifier.code, verifier.verifier)).body.error).toBe('invalid_grant');

    const late = await codeFor('pub');
    sim.clock.shift(61_000);
    expect((await exchange(late.code, late.verifier)).body.error).toBe('invalid_grant');
  });

  it('answers malformed requests with RFC 6749 errors', async () => {
    expect(await tokenRequest(sim.origin, { client_id: 'pub' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    expect(
      await tokenRequest(sim.origin, { grant_type: 'password', client_id: 'pub' }),
    ).toMatchObject({
      status: 400,
      body: { error: 'unsupported_grant_type' },
    });
    expect(
      await tokenRequest(sim.origin, { grant_type: 'client_credentials', client_id: 'pub' }),
    ).toMatchObject({ status: 400, body: { error: 'unauthorized_client' } });
    const { code } = await codeFor('pub');
    expect(
      await tokenRequest(sim.origin, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: TEST_REDIRECT,
        client_id: 'pub',
      }),
    ).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const json = await fetch(`${sim.origin}/oauth/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'authorization_code' }),
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: 'invalid_request' });
    const garbage = await fetch(`${sim.origin}/oauth/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(garbage.status).toBe(400);
    expect((await garbage.json()).error).toBe('invalid_request');
    expect(
      (await tokenRequest(sim.origin, { grant_type: 'authorization_code', code: 'x' })).status,
    ).toBe(401);
  });

  it('authenticates a symmetric client with HTTP Basic only', async () => {
    const body = await symTokens();
    expect(body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const { code, verifier } = await codeFor('sym');
    const wrong = await exchange(
      code,
      verifier,
      {},
      { authorization: basicAuth('sym', 'wrong-secret') },
    );
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    expect(wrong.headers.get('www-authenticate')).toContain('Basic');
    const post = await exchange(code, verifier, { client_id: 'sym', client_secret: SECRET });
    expect(post).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const none = await exchange(code, verifier, { client_id: 'sym' });
    expect(none).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect(JSON.stringify(wrong.body)).not.toContain(SECRET);
  });

  it('rotates refresh tokens: each refresh returns a new one and the old stops working', async () => {
    const first = await symTokens();
    const second = await refresh(String(first.refresh_token));
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).toBeDefined();
    expect(second.body.refresh_token).not.toBe(first.refresh_token);
    expect(second.body.access_token).not.toBe(first.access_token);
    expect(second.body.scope).toBe(FULL);
    const old = await refresh(String(first.refresh_token));
    expect(old).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await refresh(String(second.body.refresh_token))).status).toBe(200);
  });

  it('requires client authentication on refresh too', async () => {
    const first = await symTokens();
    const bare = await tokenRequest(sim.origin, {
      grant_type: 'refresh_token',
      refresh_token: String(first.refresh_token),
    });
    expect(bare).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const asPublic = await tokenRequest(sim.origin, {
      grant_type: 'refresh_token',
      refresh_token: String(first.refresh_token),
      client_id: 'pub',
    });
    expect(asPublic).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('narrows the scope on refresh but never widens it', async () => {
    const first = await symTokens();
    const narrow = await tokenRequest(
      sim.origin,
      {
        grant_type: 'refresh_token',
        refresh_token: String(first.refresh_token),
        scope: 'launch/patient patient/Patient.read',
      },
      { authorization: basicAuth('sym', SECRET) },
    );
    expect(narrow.body.scope).toBe('launch/patient patient/Patient.read');
    const wide = await tokenRequest(
      sim.origin,
      {
        grant_type: 'refresh_token',
        refresh_token: String(narrow.body.refresh_token),
        scope: 'patient/Observation.read',
      },
      { authorization: basicAuth('sym', SECRET) },
    );
    expect(wide).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it('keeps the 90-day refresh life fixed from the first grant', async () => {
    const first = await symTokens();
    sim.clock.shift(89 * 24 * 3600_000);
    const day89 = await refresh(String(first.refresh_token));
    expect(day89.status).toBe(200);
    sim.clock.shift(2 * 24 * 3600_000);
    const day91 = await refresh(String(day89.body.refresh_token));
    expect(day91).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('stops access tokens at once and refreshes with invalid_grant after revocation', async () => {
    const body = await symTokens();
    expect((await readPatient(body.access_token, body.patient)).status).toBe(200);
    const revoked = await sim.admin('POST', '/revoke', {
      clientId: 'sym',
      username: 'AdultFemaleFHIR',
    });
    expect((await revoked.json()).revoked).toBeGreaterThan(0);
    expect((await readPatient(body.access_token, body.patient)).status).toBe(401);
    expect(await refresh(String(body.refresh_token))).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
  });

  it('answers a revoked refresh with 403 by the revokedRefreshStatus quirk', async () => {
    const body = await symTokens();
    await sim.admin('PATCH', '/quirks', { revokedRefreshStatus: 403 });
    try {
      await sim.admin('POST', '/revoke', { clientId: 'sym', patientId: String(body.patient) });
      expect(await refresh(String(body.refresh_token))).toMatchObject({
        status: 403,
        body: { error: 'invalid_grant' },
      });
    } finally {
      await sim.admin('PATCH', '/quirks', { revokedRefreshStatus: 400 });
    }
  });

  it('plays the Cerner style: no new refresh token, the old one keeps working', async () => {
    const body = await symTokens();
    await sim.admin('PATCH', '/quirks', { refreshTokens: 'keep' });
    try {
      const once = await refresh(String(body.refresh_token));
      expect(once.status).toBe(200);
      expect(once.body.refresh_token).toBeUndefined();
      expect((await refresh(String(body.refresh_token))).status).toBe(200);
    } finally {
      await sim.admin('PATCH', '/quirks', { refreshTokens: 'rotate' });
    }
  });

  it('omits patient and makes fhirUser relative by switches', async () => {
    await sim.admin('PATCH', '/quirks', {
      patientInTokenResponse: false,
      fhirUserStyle: 'relative',
    });
    try {
      const { code, verifier } = await codeFor('pub');
      const token = await exchange(code, verifier);
      expect(token.body.patient).toBeUndefined();
      const jwks = await (await fetch(`${sim.origin}/oauth/oauth2/jwks`)).json();
      const { payload } = await jwtVerify(String(token.body.id_token), createLocalJWKSet(jwks), {
        currentDate: new Date(sim.clock.now()),
      });
      expect(payload.fhirUser).toBe('Patient/jafjcd.adultfemalefhir-1');
    } finally {
      await sim.admin('PATCH', '/quirks', {
        patientInTokenResponse: true,
        fhirUserStyle: 'absolute',
      });
    }
  });

  it('rotates the id_token key and keeps the old one published for a while', async () => {
    const before = await (await fetch(`${sim.origin}/oauth/oauth2/jwks`)).json();
    const oldKid = before.keys[0].kid;
    const rotated = await (await sim.admin('POST', '/keys/rotate')).json();
    expect(rotated.kid).not.toBe(oldKid);
    const after = await (await fetch(`${sim.origin}/oauth/oauth2/jwks`)).json();
    expect(after.keys.map((k: { kid: string }) => k.kid)).toEqual([rotated.kid, oldKid]);
    const { code, verifier } = await codeFor('pub');
    const token = await exchange(code, verifier);
    expect(decodeProtectedHeader(String(token.body.id_token)).kid).toBe(rotated.kid);
    sim.clock.shift(25 * 3600_000);
    const later = await (await fetch(`${sim.origin}/oauth/oauth2/jwks`)).json();
    expect(later.keys.map((k: { kid: string }) => k.kid)).toEqual([rotated.kid]);
  });

  it('counts tokens issued and refreshes per practice', async () => {
    const before = await (await sim.admin('GET', '/counters/JAFJCD')).json();
    const body = await symTokens();
    await refresh(String(body.refresh_token));
    const after = await (await sim.admin('GET', '/counters/JAFJCD')).json();
    expect(after.tokensIssued - before.tokensIssued).toBe(1);
    expect(after.refreshes - before.refreshes).toBe(1);
    expect(after.refreshTokenReuses - before.refreshTokenReuses).toBe(0);
  });

  it('counts a refresh token presented again after it was used (a double refresh)', async () => {
    const before = await (await sim.admin('GET', '/counters/JAFJCD')).json();
    const body = await symTokens();
    expect((await refresh(String(body.refresh_token))).status).toBe(200);
    expect((await refresh(String(body.refresh_token))).status).toBe(400);
    const after = await (await sim.admin('GET', '/counters/JAFJCD')).json();
    expect(after.refreshes - before.refreshes).toBe(1);
    expect(after.refreshTokenReuses - before.refreshTokenReuses).toBe(1);
  });
});
