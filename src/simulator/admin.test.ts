import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeCode,
  authorizeUrl,
  pkcePair,
  startTestSimulator,
  type TestSimulator,
} from './simulator.test-helper.ts';

describe('admin API', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator();
  });
  afterAll(() => sim.close());

  it('is off unless enabled', async () => {
    const closed = await startTestSimulator({ adminEnabled: false });
    try {
      const response = await closed.admin('GET', '/counters');
      expect(response.status).toBe(404);
      expect(closed.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await closed.close();
    }
  });

  it('adds, lists and deletes registrations, never showing a secret', async () => {
    const created = await sim.admin('POST', '/registrations', {
      clientId: 'new-sym',
      type: 'confidential-symmetric',
      clientSecret: 'very-secret-value',
      redirectUris: ['https://app.example.com/cb'],
      appName: 'New',
    });
    expect(created.status).toBe(201);
    const list = await (await sim.admin('GET', '/registrations')).text();
    expect(list).toContain('new-sym');
    expect(list).toContain('sim-demo-public');
    expect(list).not.toContain('very-secret-value');
    expect((await sim.admin('DELETE', '/registrations/new-sym')).status).toBe(204);
    expect((await sim.admin('DELETE', '/registrations/new-sym')).status).toBe(404);
  });

  it('refuses an invalid registration', async () => {
    const bad = [
      {
        clientId: 'x',
        type: 'confidential-asymmetric',
        redirectUris: ['https://a/cb'],
        appName: 'X',
      },
      { clientId: 'x', type: 'public', redirectUris: [], appName: 'X' },
      {
        clientId: 'x',
        type: 'public',
        redirectUris: ['https://a/cb'],
        appName: 'X',
        scopes: ['patient/*.*'],
      },
    ];
    for (const body of bad) {
      const response = await sim.admin('POST', '/registrations', body);
      expect(response.status).toBe(400);
      expect((await response.json()).error).toBe('invalid_request');
    }
    const notJson = await fetch(`${sim.origin}/admin/registrations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(notJson.status).toBe(400);
  });

  it('disables and enables a practice', async () => {
    expect((await sim.admin('POST', '/practices/EGCAID/disable')).status).toBe(200);
    const fhir = await fetch(`${sim.base('EGCAID')}/metadata`);
    expect(fhir.status).toBe(403);
    expect((await fhir.json()).resourceType).toBe('OperationOutcome');
    const authorize = await fetch(authorizeUrl(sim, pkcePair().challenge, { practice: 'EGCAID' }), {
      redirect: 'manual',
    });
    expect(authorize.status).toBe(302);
    expect(new URL(authorize.headers.get('location') ?? '').searchParams.get('error')).toBe(
      'invalid_request',
    );
    expect((await sim.admin('POST', '/practices/EGCAID/enable')).status).toBe(200);
    expect((await fetch(`${sim.base('EGCAID')}/metadata`)).status).toBe(200);
    expect((await sim.admin('POST', '/practices/NOPE/disable')).status).toBe(404);
  });

  it('shifts the clock', async () => {
    const before = (await (await sim.admin('GET', '/clock')).json()).now;
    const after = await (await sim.admin('POST', '/clock/shift', { ms: 3_600_000 })).json();
    expect(after.now - before).toBe(3_600_000);
    expect((await sim.admin('POST', '/clock/shift', { ms: 'soon' })).status).toBe(400);
  });

  it('changes quirks and refuses unknown ones', async () => {
    const patched = await (await sim.admin('PATCH', '/quirks', { retryAfterOn429: true })).json();
    expect(patched.retryAfterOn429).toBe(true);
    expect(patched.searchLastUpdated).toBe('refuse');
    expect((await sim.admin('PATCH', '/quirks', { searchLastUpdated: 'maybe' })).status).toBe(400);
    const accepted = await (
      await sim.admin('PATCH', '/quirks', {
        searchLastUpdated: 'accept',
        searchPatientById: 'accept',
        searchInclude: 'accept',
        scopesSupported: 'wildcard-v2',
      })
    ).json();
    expect(accepted).toMatchObject({
      searchLastUpdated: 'accept',
      searchPatientById: 'accept',
      searchInclude: 'accept',
      scopesSupported: 'wildcard-v2',
      retryAfterOn429: true,
    });
    await sim.admin('PATCH', '/quirks', {
      searchLastUpdated: 'refuse',
      searchPatientById: 'refuse',
      searchInclude: 'refuse',
      scopesSupported: 'per-type',
    });
    // The profile sits beside the switches, here and at /admin/profile.
    expect((await (await sim.admin('GET', '/quirks')).json()).profile).toBe('healow');
    const generic = await (await sim.admin('PATCH', '/quirks', { profile: 'generic' })).json();
    expect(generic).toMatchObject({ profile: 'generic', retryAfterOn429: true });
    expect(await (await sim.admin('GET', '/profile')).json()).toEqual({ profile: 'generic' });
    expect((await sim.admin('PATCH', '/quirks', { profile: 'hapi' })).status).toBe(400);
    await sim.admin('PATCH', '/profile', { profile: 'healow' });
    expect((await sim.admin('PATCH', '/quirks', { noSuchSwitch: true })).status).toBe(400);
    // A field left out keeps its value: it is not reset to its default.
    await sim.admin('PATCH', '/quirks', { refreshTokens: 'keep' });
    const after = await (await sim.admin('PATCH', '/quirks', { wrongBundleTotal: false })).json();
    expect(after).toMatchObject({
      refreshTokens: 'keep',
      retryAfterOn429: true,
      wrongBundleTotal: false,
    });
    const limit = await (await sim.admin('PATCH', '/rate-limit', { windowMs: 1000 })).json();
    const limited = await (await sim.admin('PATCH', '/rate-limit', { limit: 10 })).json();
    expect(limited).toEqual({ ...limit, limit: 10, windowMs: 1000 });
    await sim.admin('PATCH', '/rate-limit', { limit: 250, windowMs: 60_000 });
    await sim.admin('PATCH', '/quirks', { retryAfterOn429: false });
  });

  it('lists grants without credentials and reads and resets counters', async () => {
    const { code } = await authorizeCode(sim, { practice: 'FJDBGE' });
    await fetch(`${sim.origin}/oauth/oauth2/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: 'http://127.0.0.1:9999/callback',
        code_verifier: 'wrong-verifier-wrong-verifier-wrong-verifier-00',
        client_id: 'sim-demo-public',
      }),
    });
    const grants = await (await sim.admin('GET', '/grants')).text();
    expect(grants).not.toContain(code);
    const counters = await (await sim.admin('GET', '/counters')).json();
    expect(counters.rateLimit).toEqual({ limit: 250, windowMs: 60_000 });
    expect(counters.practices.FJDBGE.callsThisWindow).toBe(2);
    expect((await sim.admin('POST', '/counters/reset')).status).toBe(204);
    expect((await (await sim.admin('GET', '/counters')).json()).practices).toEqual({});
    const revoke = await sim.admin('POST', '/revoke', { clientId: 'sim-demo-public' });
    expect(revoke.status).toBe(400);
  });
});
