// The whole simulator as composed by createSimulator: discovery → authorize → login → consent →
// token → FHIR read, over real HTTP, with the real patient data and FHIR routes.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSimulatorCommand } from './cli.ts';
import { createSimClock } from './clock.ts';
import { createSimulator, type Simulator } from './index.ts';
import {
  authorizeCode,
  basicAuth,
  publicClientToken,
  TEST_REDIRECT,
  tokenRequest,
} from './simulator.test-helper.ts';

describe('createSimulator: the full flow', () => {
  let simulator: Simulator;
  let sim: { origin: string; base(code?: string): string };
  const clock = createSimClock();

  beforeAll(async () => {
    simulator = await createSimulator(
      {
        port: 0,
        adminEnabled: true,
        rateLimit: { limit: 40, windowMs: 60_000 },
        registrations: [
          {
            clientId: 'sim-demo-public',
            type: 'public',
            redirectUris: [TEST_REDIRECT],
            appName: 'Demo',
          },
          {
            clientId: 'sym',
            type: 'confidential-symmetric',
            clientSecret: 'full-flow-secret',
            redirectUris: [TEST_REDIRECT],
            appName: 'Sym',
          },
        ],
      },
      { clock },
    );
    sim = { origin: simulator.url, base: (code = 'JAFJCD') => simulator.fhirBase(code) };
  });
  afterAll(() => simulator.close());

  /** Walks authorize → login → consent with `params`, and trades the code as the public client. */
  const signInAsPublicClient = async (params: Parameters<typeof authorizeCode>[1]) =>
    publicClientToken(simulator.url, await authorizeCode(sim, params));

  const bearer = (token: unknown) => ({
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
  });

  it('walks discovery → authorize → login → consent → token → Patient read', async () => {
    const config = await (await fetch(`${sim.base()}/.well-known/smart-configuration`)).json();
    expect(config.issuer).toBe(sim.base());
    const token = await signInAsPublicClient({ username: 'ChildFemaleFHIR' });
    expect(token.status).toBe(200);
    expect(token.body.patient).toBe(
      simulator.context.data.patientIdFor('JAFJCD', 'ChildFemaleFHIR'),
    );
    const patient = await fetch(
      `${sim.base()}/Patient/${token.body.patient}`,
      bearer(token.body.access_token),
    );
    expect(patient.status).toBe(200);
    expect(patient.headers.get('content-type')).toBe('application/json+fhir;charset=UTF-8');
    expect(await patient.json()).toMatchObject({ resourceType: 'Patient', id: token.body.patient });
    // The token is bound to its practice.
    const elsewhere = await fetch(
      `${sim.base('BFGHDA')}/Patient/${token.body.patient}`,
      bearer(token.body.access_token),
    );
    expect(elsewhere.status).toBe(401);
  });

  it('serves only granted scopes and stops a revoked grant at once', async () => {
    const { code, verifier } = await authorizeCode(sim, {
      clientId: 'sym',
      scope: 'launch/patient offline_access patient/Patient.read patient/Condition.read',
      grant: ['launch/patient', 'offline_access', 'patient/Patient.read'],
    });
    const basic = basicAuth('sym', 'full-flow-secret');
    const token = await tokenRequest(
      simulator.url,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: TEST_REDIRECT,
        code_verifier: verifier,
      },
      { authorization: basic },
    );
    expect(token.body.scope).toBe('launch/patient offline_access patient/Patient.read');
    const conditions = await fetch(
      `${sim.base()}/Condition?patient=${token.body.patient}`,
      bearer(token.body.access_token),
    );
    expect(conditions.status).toBe(403);
    const revoke = await fetch(`${simulator.url}/admin/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId: 'sym',
        username: 'AdultFemaleFHIR',
        practiceCode: 'JAFJCD',
      }),
    });
    expect((await revoke.json()).revoked).toBe(1);
    const after = await fetch(
      `${sim.base()}/Patient/${token.body.patient}`,
      bearer(token.body.access_token),
    );
    expect(after.status).toBe(401);
    const refresh = await tokenRequest(
      simulator.url,
      { grant_type: 'refresh_token', refresh_token: String(token.body.refresh_token) },
      { authorization: basic },
    );
    expect(refresh).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  const admin = (method: string, path: string, body: unknown) =>
    fetch(`${simulator.url}/admin${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('lists a wildcard in scopes_supported by the switch, and a wildcard grant covers every type', async () => {
    try {
      for (const [style, wildcard, other] of [
        ['wildcard-v1', 'patient/*.read', 'patient/*.rs'],
        ['wildcard-v2', 'patient/*.rs', 'patient/*.read'],
      ] as const) {
        expect((await admin('PATCH', '/quirks', { scopesSupported: style })).status).toBe(200);
        const config = await (await fetch(`${sim.base()}/.well-known/smart-configuration`)).json();
        expect(config.scopes_supported).toEqual([
          'openid',
          'fhirUser',
          'offline_access',
          'launch/patient',
          wildcard,
        ]);
        // The other SMART version is not advertised, so it is refused.
        await expect(authorizeCode(sim, { scope: `launch/patient ${other}` })).rejects.toThrow(
          /authorize answered 302/,
        );
        const token = await signInAsPublicClient({ scope: `openid launch/patient ${wildcard}` });
        expect(token.body.scope).toBe(`openid launch/patient ${wildcard}`);
        const auth = bearer(token.body.access_token);
        const patient = String(token.body.patient);
        for (const url of [
          `${sim.base()}/Patient/${patient}`,
          `${sim.base()}/Condition?patient=${patient}`,
          `${sim.base()}/Observation?patient=${patient}&category=laboratory`,
          `${sim.base()}/CareTeam?patient=${patient}&status=active`,
        ]) {
          expect((await fetch(url, auth)).status, url).toBe(200);
        }
      }
      // A per-type scope is covered by the advertised wildcard of its own version.
      const narrow = await authorizeCode(sim, { scope: 'launch/patient patient/Condition.rs' });
      expect(narrow.code).not.toBe('');
    } finally {
      await admin('PATCH', '/quirks', { scopesSupported: 'per-type' });
    }
  });

  it('switches to the generic profile and back at run time', async () => {
    expect(await (await fetch(`${simulator.url}/admin/profile`)).json()).toEqual({
      profile: 'healow',
    });
    expect((await admin('PATCH', '/profile', { profile: 'hapi' })).status).toBe(400);
    const token = await signInAsPublicClient({ scope: 'launch/patient patient/Patient.read' });
    const byId = `${sim.base()}/Patient?_id=${token.body.patient}`;
    try {
      expect((await fetch(byId, bearer(token.body.access_token))).status).toBe(400);
      const patched = await admin('PATCH', '/profile', { profile: 'generic' });
      expect(await patched.json()).toEqual({ profile: 'generic' });
      expect((await fetch(byId, bearer(token.body.access_token))).status).toBe(200);
    } finally {
      await admin('PATCH', '/profile', { profile: 'healow' });
    }
    expect((await fetch(byId, bearer(token.body.access_token))).status).toBe(400);
  });

  it('counts FHIR calls against the practice and answers 429 over the limit', async () => {
    const token = await signInAsPublicClient({ practice: 'FJDBGE' });
    // Move to the start of a fresh window so that the count below is exact.
    clock.shift(60_000 - (clock.now() % 60_000));
    const statuses: number[] = [];
    for (let i = 0; i < 41; i += 1) {
      const response = await fetch(
        `${sim.base('FJDBGE')}/Patient/${token.body.patient}`,
        bearer(token.body.access_token),
      );
      statuses.push(response.status);
    }
    expect(statuses.slice(0, 40).every((s) => s === 200)).toBe(true);
    expect(statuses[40]).toBe(429);
    const counters = await (await fetch(`${simulator.url}/admin/counters/FJDBGE`)).json();
    expect(counters).toMatchObject({ callsThisWindow: 41, rateLimited: 1, tokensIssued: 1 });
  });

  it('serves the directory and the data admin routes under /admin', async () => {
    const directory = await fetch(`${simulator.url}/apps/api/v1/fhir/activated_clinical_endpoints`);
    expect(directory.status).toBe(200);
    const bundle = await directory.json();
    expect(bundle.entry.length).toBe(2 * simulator.context.practices.size);
    const patients = await fetch(`${simulator.url}/admin/data/JAFJCD/patients`);
    expect(patients.status).toBe(200);
    expect((await patients.json()).length).toBe(4);
  });
});

describe('the simulate command', () => {
  it('starts on the given port with the admin API off, and says where everything is', async () => {
    const lines: string[] = [];
    const simulator = await runSimulatorCommand({ port: 0 }, (line) => lines.push(line));
    try {
      expect(lines[0]).toBe(`healow simulator listening on ${simulator.url}`);
      expect(lines.join('\n')).toContain(`JAFJCD   ${simulator.url}/fhir/r4/JAFJCD`);
      expect(lines.join('\n')).toContain('admin API: off');
      expect((await fetch(`${simulator.url}/admin/counters`)).status).toBe(404);
      expect((await fetch(`${simulator.fhirBase('JAFJCD')}/metadata`)).status).toBe(200);
    } finally {
      const before = process.listenerCount('SIGINT');
      await simulator.close();
      expect(process.listenerCount('SIGINT')).toBe(before - 1);
    }
  });
});
