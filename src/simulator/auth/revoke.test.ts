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
const SCOPE = 'openid fhirUser offline_access launch/patient patient/Patient.read';

describe('token revocation (RFC 7009)', () => {
  let sim: TestSimulator;
  const registrations = ['sym', 'other'].map((clientId) => ({
    clientId,
    type: 'confidential-symmetric' as const,
    clientSecret: SECRET,
    redirectUris: [TEST_REDIRECT],
    appName: clientId,
  }));
  beforeAll(async () => {
    sim = await startTestSimulator({ registrations, quirks: { revocationEndpoint: true } });
  });
  afterAll(() => sim.close());

  const tokens = async () => {
    const { code, verifier } = await authorizeCode(sim, { clientId: 'sym', scope: SCOPE });
    const answer = await tokenRequest(
      sim.origin,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: TEST_REDIRECT,
        code_verifier: verifier,
      },
      { authorization: basicAuth('sym', SECRET) },
    );
    return answer.body as { access_token: string; refresh_token: string; patient: string };
  };
  const revoke = (form: Record<string, string>, client = 'sym') =>
    fetch(`${sim.origin}/oauth/oauth2/revoke`, {
      method: 'POST',
      headers: { authorization: basicAuth(client, SECRET) },
      body: new URLSearchParams(form),
    });
  const read = (t: { access_token: string; patient: string }) =>
    fetch(`${sim.base()}/Patient/${t.patient}`, {
      headers: { authorization: `Bearer ${t.access_token}` },
    });
  const refresh = (refreshToken: string) =>
    tokenRequest(
      sim.origin,
      { grant_type: 'refresh_token', refresh_token: refreshToken },
      { authorization: basicAuth('sym', SECRET) },
    );

  it('is advertised in the SMART configuration when switched on', async () => {
    const config = await (await fetch(`${sim.base()}/.well-known/smart-configuration`)).json();
    expect(config.revocation_endpoint).toBe(`${sim.origin}/oauth/oauth2/revoke`);
  });

  it('revoking a refresh token ends its grant: the access token stops and the refresh fails', async () => {
    const t = await tokens();
    expect((await read(t)).status).toBe(200);
    const answer = await revoke({ token: t.refresh_token, token_type_hint: 'refresh_token' });
    expect(answer.status).toBe(200);
    expect((await read(t)).status).toBe(401);
    expect((await refresh(t.refresh_token)).body).toMatchObject({ error: 'invalid_grant' });
  });

  it('revoking an access token ends that token only', async () => {
    const t = await tokens();
    expect((await revoke({ token: t.access_token })).status).toBe(200);
    expect((await read(t)).status).toBe(401);
    expect((await refresh(t.refresh_token)).status).toBe(200);
  });

  it("answers 200 for an unknown token and for another client's, which stays valid", async () => {
    const t = await tokens();
    expect((await revoke({ token: 'no-such-token' })).status).toBe(200);
    expect((await revoke({ token: t.refresh_token }, 'other')).status).toBe(200);
    expect((await read(t)).status).toBe(200);
  });

  it('requires client authentication and a token', async () => {
    const t = await tokens();
    const anonymous = await fetch(`${sim.origin}/oauth/oauth2/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token: t.refresh_token }),
    });
    expect(anonymous.status).toBe(401);
    expect((await read(t)).status).toBe(200);
    expect((await revoke({})).status).toBe(400);
  });

  it('is not there when switched off (healow)', async () => {
    const healow = await startTestSimulator({ registrations });
    try {
      const config = await (await fetch(`${healow.base()}/.well-known/smart-configuration`)).json();
      expect(config.revocation_endpoint).toBeUndefined();
      const answer = await fetch(`${healow.origin}/oauth/oauth2/revoke`, {
        method: 'POST',
        headers: { authorization: basicAuth('sym', SECRET) },
        body: new URLSearchParams({ token: 'x' }),
      });
      expect(answer.status).toBe(404);
    } finally {
      await healow.close();
    }
  });
});
