// Connecting a patient end to end over real HTTP: fhirbridge ↔ the simulator, every client type,
// refresh with and without rotation, revocation, expiry, key rotation, and the refusals.
import { afterEach, describe, expect, it } from 'vitest';
import { syncEngineOf } from '../../src/background.ts';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, type StackOptions, startStack } from './helpers/stack.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** The technical detail kept under the reference a patient page shows (its `web.page_error` event). */
async function detailBehind(s: Stack, body: string): Promise<string> {
  const reference = /data-reference>([2-9A-Z]{4}-[2-9A-Z]{4})</.exec(body)?.[1];
  expect(reference).toBeDefined();
  const events = await s.runtime.store.events.list({ limit: 500 });
  const event = events.find((e) => e.type === 'web.page_error' && e.data.reference === reference);
  return String(event?.data.detail);
}

async function up(options: StackOptions = {}): Promise<Stack> {
  stack = await startStack(options);
  return stack;
}

async function connection(s: Stack, id: string) {
  return (await (await s.api(`/api/connections/${id}`)).json()) as Record<string, unknown>;
}

async function counters(s: Stack) {
  return (await (await s.admin('/counters/JAFJCD')).json()) as Record<string, unknown>;
}

describe('connect (confidential asymmetric, the healow default)', () => {
  it('connects AdultFemaleFHIR, shows no token, reads her Patient through the proxy', async () => {
    const s = await up();
    const { connectionId, outcome, finalUrl, cookie } = await connectPatient(s);
    expect(outcome).toBe('connected');
    expect(finalUrl).toContain('/connect/done');
    // Started through the API, so the page says how it went and nothing about the patient.
    const done = await (await fetch(finalUrl, { headers: { cookie } })).text();
    expect(done).toContain('You can close this window');
    expect(done).not.toContain('Patient id');

    const response = await s.api(`/api/connections/${connectionId}`);
    const text = await response.text();
    const view = JSON.parse(text) as Record<string, unknown>;
    expect(view.state).toBe('active');
    expect(view.patient).toEqual(expect.any(String));
    expect(view.scopes).toContain('patient/Patient.read');
    expect(view.refreshExpiresAt).toEqual(expect.any(String));
    expect(text).not.toMatch(/access_?token|refresh_?token|id_?token/i);

    const patient = await s.api(`/api/connections/${connectionId}/fhir/Patient/${view.patient}`);
    expect(patient.status).toBe(200);
    const body = (await patient.json()) as { resourceType: string; id: string; name: unknown[] };
    expect(body.resourceType).toBe('Patient');
    expect(body.id).toBe(view.patient);
  });

  it('records a partial grant as granted', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s, { untick: ['patient/Observation.read'] });
    const view = await connection(s, connectionId);
    expect(view.scopes).not.toContain('patient/Observation.read');
    expect(view.scopes).toContain('patient/Condition.read');
  });

  it('treats Deny as the state "declined", not an error, and a new launch still connects it', async () => {
    const s = await up();
    const { connectionId, outcome } = await connectPatient(s, {
      decision: 'deny',
      userRef: 'undecided',
    });
    expect(outcome).toBe('declined');
    expect((await connection(s, connectionId)).state).toBe('declined');
    const events = await s.runtime.store.events.list({ connectionId, limit: 10 });
    expect(events.map((e) => e.type)).toEqual(['connection.declined']);
    expect(events[0]?.data).toEqual({ state: 'declined' });

    const again = await connectPatient(s, { userRef: 'undecided' });
    expect(again.connectionId).toBe(connectionId);
    expect(again.outcome).toBe('connected');
    expect((await connection(s, connectionId)).state).toBe('active');
  });

  it('a Deny on a new launch of an active connection leaves it active', async () => {
    const s = await up();
    const first = await connectPatient(s, { userRef: 'second-thoughts' });
    const denied = await connectPatient(s, { userRef: 'second-thoughts', decision: 'deny' });
    expect(denied.connectionId).toBe(first.connectionId);
    expect(denied.outcome).toBe('declined');
    expect((await connection(s, first.connectionId)).state).toBe('active');
  });

  it('keeps the connection id when the same user reconnects', async () => {
    const s = await up();
    const first = await connectPatient(s, { userRef: 'same-user' });
    const again = await connectPatient(s, { userRef: 'same-user' });
    expect(again.connectionId).toBe(first.connectionId);
    expect((await connection(s, again.connectionId)).state).toBe('active');
  });

  it('forgets the previous record when another patient signs in on the same connection', async () => {
    const s = await up({ config: { sync: { concurrency: 0, onConnect: false, intervalMs: 0 } } });
    const first = await connectPatient(s, {
      userRef: 'family-tablet',
      username: 'AdultFemaleFHIR',
    });
    await syncEngineOf(s.runtime).run(first.connectionId, { mode: 'full' });
    expect(
      Object.keys(await s.runtime.store.resources.countByType(first.connectionId)).length,
    ).toBeGreaterThan(5);

    const again = await connectPatient(s, { userRef: 'family-tablet', username: 'ChildMaleFHIR' });
    expect(again.connectionId).toBe(first.connectionId);
    expect(await s.runtime.store.resources.countByType(first.connectionId)).toEqual({});
    expect(await s.runtime.store.sync.checkpoints(first.connectionId)).toEqual([]);
    const view = await connection(s, first.connectionId);
    expect(view.state).toBe('active');
    const synced = await syncEngineOf(s.runtime).run(first.connectionId);
    expect(synced.mode).toBe('full');
    const patients = [];
    for await (const r of s.runtime.store.resources.iterate(first.connectionId, {
      type: 'Patient',
    }))
      patients.push(r.id);
    expect(patients).toEqual([view.patient]);
  });

  it('refreshes with single-use rotation, storing each new refresh token before using it', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    for (let i = 0; i < 3; i++) {
      const refreshed = await s.api(`/api/connections/${connectionId}/refresh`, { method: 'POST' });
      expect(refreshed.status).toBe(200);
    }
    // Had we kept an old refresh token, healow's single-use rule would have answered invalid_grant.
    expect((await connection(s, connectionId)).state).toBe('active');
    expect(await counters(s)).toMatchObject({ refreshes: 3 });
    const read = await s.api(
      `/api/connections/${connectionId}/fhir/Patient/${(await connection(s, connectionId)).patient}`,
    );
    expect(read.status).toBe(200);
  });

  it('keeps the old refresh token when the server returns none (Cerner style)', async () => {
    const s = await up({ simulator: { quirks: { refreshTokens: 'keep' } } });
    const { connectionId } = await connectPatient(s);
    const before = await s.runtime.vault.get(connectionId);
    await s.api(`/api/connections/${connectionId}/refresh`, { method: 'POST' });
    await s.api(`/api/connections/${connectionId}/refresh`, { method: 'POST' });
    const after = await s.runtime.vault.get(connectionId);
    expect(after.state).toBe('active');
    expect(after.tokenVersion).toBeGreaterThan(before.tokenVersion);
    expect(await counters(s)).toMatchObject({ refreshes: 2 });
  });

  it('shares one refresh between concurrent callers', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    await Promise.all(
      Array.from({ length: 5 }, () => s.runtime.vault.refresh(connectionId, { force: true })),
    );
    expect(await counters(s)).toMatchObject({ refreshes: 1 });
    expect((await connection(s, connectionId)).state).toBe('active');
  });

  for (const status of [400, 403] as const) {
    it(`marks a revoked consent as revoked (refresh answers ${status}), with an event`, async () => {
      const s = await up({ simulator: { quirks: { revokedRefreshStatus: status } } });
      const { connectionId } = await connectPatient(s);
      const revoke = await s.admin('/revoke', {
        method: 'POST',
        body: JSON.stringify({ clientId: 'fhirbridge-sandbox', username: 'AdultFemaleFHIR' }),
      });
      expect(revoke.status).toBe(200);
      const refreshed = await s.api(`/api/connections/${connectionId}/refresh`, { method: 'POST' });
      expect(refreshed.status).toBe(409);
      expect(((await refreshed.json()) as { error: { code: string } }).error.code).toBe('revoked');
      const view = await connection(s, connectionId);
      expect(view.state).toBe('revoked');
      const events = await s.runtime.store.events.list({ connectionId, limit: 10 });
      expect(events.map((e) => e.type)).toContain('connection.revoked');
    });
  }

  it('refreshes a lapsed access token on the next read (injected clock), and expires after 90 days', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    const patient = (await connection(s, connectionId)).patient;
    s.clock.shift(HOUR + 60_000);
    expect((await s.api(`/api/connections/${connectionId}/fhir/Patient/${patient}`)).status).toBe(
      200,
    );
    expect(await counters(s)).toMatchObject({ refreshes: 1 });

    s.clock.shift(91 * DAY);
    const read = await s.api(`/api/connections/${connectionId}/fhir/Patient/${patient}`);
    expect(read.status).toBe(409);
    expect((await connection(s, connectionId)).state).toBe('expired');
    const events = await s.runtime.store.events.list({ connectionId, limit: 10 });
    expect(events.map((e) => e.type)).toContain('connection.expired');
  });

  it('forgets the tokens and the synced record on DELETE', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    await storeObservation(s, connectionId);
    expect((await s.api(`/api/connections/${connectionId}`, { method: 'DELETE' })).status).toBe(
      204,
    );
    const record = await s.runtime.vault.get(connectionId);
    expect(record.sealedTokens).toBeNull();
    expect(record.state).toBe('revoked');
    expect((await s.api(`/api/connections/${connectionId}/fhir/Patient/x`)).status).toBe(409);
    expect(await s.runtime.store.resources.countByType(connectionId)).toEqual({});
    expect(
      (await s.api(`/api/connections/${connectionId}/resources/Observation/obs-1`)).status,
    ).toBe(404);
    const events = await s.runtime.store.events.list({ connectionId, limit: 10 });
    expect(events.find((e) => e.type === 'connection.disconnected')?.data).toEqual({
      revokedAtEhr: false,
      recordKept: false,
      resourcesForgotten: 1,
    });
  });

  it('keeps the synced record on DELETE ?keep=record, still readable; the tokens go', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    await storeObservation(s, connectionId);
    const deleted = await s.api(`/api/connections/${connectionId}?keep=record`, {
      method: 'DELETE',
    });
    expect(deleted.status).toBe(204);
    expect((await s.runtime.vault.get(connectionId)).sealedTokens).toBeNull();
    expect(await s.runtime.store.resources.countByType(connectionId)).toEqual({ Observation: 1 });
    expect(
      (await s.api(`/api/connections/${connectionId}/resources/Observation/obs-1`)).status,
    ).toBe(200);
    expect(
      (await s.api(`/api/connections/${connectionId}?keep=everything`, { method: 'DELETE' }))
        .status,
    ).toBe(400);
  });

  it('on DELETE, revokes the refresh token at an advertised RFC 7009 revocation endpoint first', async () => {
    const s = await up({ simulator: { quirks: { revocationEndpoint: true } } });
    const { connectionId } = await connectPatient(s);
    expect(await grantsRevoked(s)).toEqual([false]);
    expect((await s.api(`/api/connections/${connectionId}`, { method: 'DELETE' })).status).toBe(
      204,
    );
    expect(await grantsRevoked(s)).toEqual([true]);
    const events = await s.runtime.store.events.list({ connectionId, limit: 10 });
    expect(events.find((e) => e.type === 'connection.disconnected')?.data).toMatchObject({
      revokedAtEhr: true,
    });
  });

  it('on DELETE, calls no revocation where none is advertised (healow)', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    expect((await s.api(`/api/connections/${connectionId}`, { method: 'DELETE' })).status).toBe(
      204,
    );
    expect(await grantsRevoked(s)).toEqual([false]);
  });

  it('a failed revocation does not block the DELETE', async () => {
    const s = await up({ simulator: { quirks: { revocationEndpoint: true } } });
    const { connectionId } = await connectPatient(s);
    await s.admin('/faults', {
      method: 'POST',
      body: JSON.stringify({
        route: 'authorize',
        pathPrefix: '/oauth/oauth2/revoke',
        errorRate: 1,
        errorStatus: 503,
      }),
    });
    expect((await s.api(`/api/connections/${connectionId}`, { method: 'DELETE' })).status).toBe(
      204,
    );
    expect(await grantsRevoked(s)).toEqual([false]);
    const record = await s.runtime.vault.get(connectionId);
    expect(record.sealedTokens).toBeNull();
    expect(record.state).toBe('revoked');
  });
});

/** One stored Observation, as a sync would have saved it. */
async function storeObservation(s: Stack, connectionId: string): Promise<void> {
  const record = await s.runtime.vault.get(connectionId);
  await s.runtime.store.resources.savePage({
    connectionId,
    practiceBase: record.practiceBase,
    fetchedAt: s.clock.now(),
    source: 'Observation?category=vital-signs',
    sweep: null,
    resources: [
      {
        type: 'Observation',
        id: 'obs-1',
        versionId: null,
        lastUpdated: null,
        lastUpdatedMs: null,
        dateStart: null,
        dateEnd: null,
        json: '{"resourceType":"Observation","id":"obs-1","status":"final"}',
      },
    ],
  });
  expect(await s.runtime.store.resources.countByType(connectionId)).toEqual({ Observation: 1 });
}

async function grantsRevoked(s: Stack): Promise<boolean[]> {
  const grants = (await (await s.admin('/grants')).json()) as Array<{ revoked: boolean }>;
  return grants.map((g) => g.revoked);
}

describe('other client types', () => {
  it('a public client connects with PKCE alone and gets no refresh token; it expires with its access token', async () => {
    const s = await up({ config: { registrations: { sandbox: { clientType: 'public' } } } });
    const { connectionId, outcome } = await connectPatient(s);
    expect(outcome).toBe('connected');
    const view = await connection(s, connectionId);
    expect(view.state).toBe('active');
    expect(view.refreshExpiresAt).toBeNull();
    s.clock.shift(HOUR + 1000);
    expect(
      (await s.api(`/api/connections/${connectionId}/fhir/Patient/${view.patient}`)).status,
    ).toBe(409);
    expect((await connection(s, connectionId)).state).toBe('expired');
  });

  it('a confidential symmetric client authenticates with HTTP Basic on every token call', async () => {
    const s = await up({
      config: {
        registrations: {
          sandbox: { clientType: 'confidential-symmetric', clientSecret: 'sandbox-secret-123' },
        },
      },
    });
    const { connectionId, outcome } = await connectPatient(s);
    expect(outcome).toBe('connected');
    expect(
      (await s.api(`/api/connections/${connectionId}/refresh`, { method: 'POST' })).status,
    ).toBe(200);
    expect((await connection(s, connectionId)).state).toBe('active');
  });
});

describe('key rotation', () => {
  it('publishes the next key before it signs: no invalid_client across the switch', async () => {
    const s = await up({ config: { keys: { publishDelayMs: 10 * 60_000, retireGraceMs: DAY } } });
    const { connectionId } = await connectPatient(s);
    const [old] = await s.runtime.keys.list('sandbox');
    const next = await s.runtime.keys.rotate('sandbox');
    const jwks = (await (await fetch(`${s.url}/jwks/sandbox.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([old!.kid, next.kid].sort());

    expect(
      (await s.api(`/api/connections/${connectionId}/refresh`, { method: 'POST' })).status,
    ).toBe(200);
    s.clock.shift(11 * 60_000);
    expect(
      (await s.api(`/api/connections/${connectionId}/refresh`, { method: 'POST' })).status,
    ).toBe(200);
    const keys = await s.runtime.keys.list('sandbox');
    expect(keys.find((k) => k.kid === next.kid)?.status).toBe('active');
    expect(keys.find((k) => k.kid === old!.kid)?.status).toBe('retired');
    expect(await counters(s)).toMatchObject({ refreshes: 2 });
    expect((await counters(s)).assertionFailures).toEqual({});
  });
});

describe('refusals', () => {
  it('requires an API key', async () => {
    const s = await up();
    expect((await fetch(`${s.url}/api/connections/con_xxxxxxxxxxxx`)).status).toBe(401);
    const wrong = await fetch(`${s.url}/api/connections/con_xxxxxxxxxxxx`, {
      headers: { authorization: 'Bearer fbk_nope' },
    });
    expect(wrong.status).toBe(401);
  });

  it('rejects bad connection requests clearly', async () => {
    const s = await up();
    const post = (body: unknown) =>
      s.api('/api/connections', { method: 'POST', body: JSON.stringify(body) });
    const noBody = await s.api('/api/connections', { method: 'POST' });
    expect(noBody.status).toBe(400);
    expect(await noBody.text()).toContain('a JSON body is required');
    const missing = await post({ practice: 'JAFJCD' });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toMatch(/userRef/);
    expect((await post({ practice: 'NOPE', userRef: 'u' })).status).toBe(404);
    const open = await post({
      practice: 'JAFJCD',
      userRef: 'u',
      returnTo: 'https://evil.example/steal',
    });
    expect(open.status).toBe(400);
    expect(await open.text()).toMatch(/allow-list/);
    expect((await s.api('/api/connections/not-an-id')).status).toBe(400);
    expect((await s.api('/api/connections/con_doesnotexist123')).status).toBe(404);
  });

  it('sends the browser back to an allowed returnTo with the outcome', async () => {
    const s = await up({ config: { returnToAllowList: ['http://127.0.0.1:1/app/'] } });
    const created = await s.api('/api/connections', {
      method: 'POST',
      body: JSON.stringify({
        practice: 'JAFJCD',
        userRef: 'r',
        returnTo: 'http://127.0.0.1:1/app/done',
      }),
    });
    expect(created.status).toBe(201);
  });

  it('refuses an unknown, replayed or foreign state at the callback', async () => {
    const s = await up();
    const unknown = await fetch(`${s.url}/callback?code=abc&state=${'x'.repeat(43)}`, {
      redirect: 'manual',
    });
    expect(unknown.status).toBe(400);

    const { connectionId } = await connectPatient(s);
    expect(connectionId).toBeTruthy();
    // Replay: run a flow by hand and present its callback twice.
    const created = (await (
      await s.api('/api/connections', {
        method: 'POST',
        body: JSON.stringify({ practice: 'JAFJCD', userRef: 'replay' }),
      })
    ).json()) as {
      authorizeUrl: string;
    };
    const launch = await fetch(created.authorizeUrl, { redirect: 'manual' });
    const cookie = (launch.headers.get('set-cookie') ?? '').split(';')[0]!;
    const state = new URL(launch.headers.get('location')!).searchParams.get('state')!;
    const denied = `${s.url}/callback?error=access_denied&state=${state}`;
    const foreign = await fetch(denied, {
      redirect: 'manual',
      headers: { cookie: 'fb_browser=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    });
    expect(foreign.status).toBe(400);
    expect(foreign.headers.get('content-type')).toContain('text/html');
    // The patient reads what happened and a reference; the reason is under that reference.
    const foreignPage = await foreign.text();
    expect(foreignPage).toMatch(/This sign-in link no longer works/);
    expect(foreignPage).not.toMatch(/another browser/);
    expect(await detailBehind(s, foreignPage)).toMatch(/another browser/);
    // The foreign attempt did not burn the state: the real browser finishes, once.
    const real = await fetch(denied, { redirect: 'manual', headers: { cookie } });
    expect(real.status).toBe(302);
    expect(real.headers.get('location')).toContain('outcome=declined');
    const replay = await fetch(denied, { redirect: 'manual', headers: { cookie } });
    expect(replay.status).toBe(400);
    const replayPage = await replay.text();
    expect(replayPage).not.toMatch(/used or expired/);
    expect(await detailBehind(s, replayPage)).toMatch(/used or expired/);
  });

  it('refuses a launch link opened in a second browser', async () => {
    const s = await up();
    const created = (await (
      await s.api('/api/connections', {
        method: 'POST',
        body: JSON.stringify({ practice: 'JAFJCD', userRef: 'two' }),
      })
    ).json()) as {
      authorizeUrl: string;
    };
    expect((await fetch(created.authorizeUrl, { redirect: 'manual' })).status).toBe(302);
    const second = await fetch(created.authorizeUrl, { redirect: 'manual' });
    expect(second.status).toBe(400);
  });

  it('refuses patient forms posted from another site, and pages cannot be framed', async () => {
    const s = await up();
    const page = await fetch(`${s.url}/connect`);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const post = (headers: Record<string, string>) =>
      fetch(`${s.url}/connect`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: 'practice=JAFJCD',
      });
    const evil = await post({ origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    expect(evil.headers.get('content-type')).toContain('text/html');
    expect(evil.headers.get('set-cookie')).toBeNull();
    expect((await post({ 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    const own = await post({ origin: s.url, 'sec-fetch-site': 'same-origin' });
    expect(own.status).toBe(303);
    expect(own.headers.get('location')).toContain('/launch/');
  });

  it('refuses a practice whose discovery names an authorization server the registration does not allow', async () => {
    const s = await up({
      config: {
        registrations: {
          sandbox: { authorizationServers: ['https://oauthserver.eclinicalworks.com'] },
        },
      },
    });
    const created = await s.api('/api/connections', {
      method: 'POST',
      body: JSON.stringify({ practice: 'JAFJCD', userRef: 'u' }),
    });
    expect(created.status).toBe(502);
    const body = (await created.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('discovery_failed');
    expect(body.error.message).toContain('authorizationServers');
    expect(await counters(s)).toMatchObject({ tokensIssued: 0 });
  });

  it('serves the JWKS with public members only', async () => {
    const s = await up();
    for (const path of ['/.well-known/jwks.json', '/jwks/sandbox.json']) {
      const jwks = (await (await fetch(`${s.url}${path}`)).json()) as {
        keys: Array<Record<string, unknown>>;
      };
      expect(jwks.keys).toHaveLength(1);
      expect(Object.keys(jwks.keys[0]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
      expect(jwks.keys[0]).toMatchObject({ alg: 'RS384', use: 'sig', kty: 'RSA' });
    }
    expect((await fetch(`${s.url}/jwks/nope.json`)).status).toBe(404);
  });
});
