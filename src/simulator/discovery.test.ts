import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator } from './simulator.test-helper.ts';

describe('discovery', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator();
  });
  afterAll(() => sim.close());

  it('serves smart-configuration on a practice base, modelled on healow', async () => {
    const response = await fetch(`${sim.base('BFGHDA')}/.well-known/smart-configuration`);
    expect(response.status).toBe(200);
    const config = await response.json();
    expect(config).toMatchObject({
      issuer: sim.base('BFGHDA'),
      jwks_uri: `${sim.origin}/oauth/oauth2/jwks`,
      authorization_endpoint: `${sim.origin}/oauth/oauth2/authorize`,
      token_endpoint: `${sim.origin}/oauth/oauth2/token`,
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    });
    expect(config.token_endpoint_auth_methods_supported).toEqual([
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      'client_secret_jwt',
    ]);
    for (const c of ['launch-standalone', 'client-confidential-asymmetric', 'authorize-post']) {
      expect(config.capabilities).toContain(c);
    }
    for (const s of [
      'openid',
      'fhirUser',
      'offline_access',
      'patient/Provenance.read',
      'patient/Media.read',
      'patient/Observation.rs',
    ]) {
      expect(config.scopes_supported).toContain(s);
    }
    expect(config.revocation_endpoint).toBeUndefined();
    expect(config.introspection_endpoint).toBeUndefined();
    expect(config.registration_endpoint).toBeUndefined();
  });

  it('answers 400 at the host root and 404 for an unknown practice', async () => {
    const root = await fetch(`${sim.origin}/.well-known/smart-configuration`);
    expect(root.status).toBe(400);
    const unknown = await fetch(`${sim.origin}/fhir/r4/NOPE/.well-known/smart-configuration`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).resourceType).toBe('OperationOutcome');
  });

  it('serves the CapabilityStatement with the oauth-uris extension', async () => {
    const response = await fetch(`${sim.base()}/metadata`);
    expect(response.headers.get('content-type')).toBe('application/json+fhir;charset=UTF-8');
    const statement = await response.json();
    expect(statement).toMatchObject({
      resourceType: 'CapabilityStatement',
      fhirVersion: '4.0.1',
      software: { name: 'eCW FHIR Facade' },
    });
    const security = statement.rest[0].security;
    expect(security.cors).toBe(true);
    const uris = security.extension.find((e: { url: string }) => e.url.endsWith('oauth-uris'));
    expect(uris.extension).toEqual([
      { url: 'authorize', valueUri: `${sim.origin}/oauth/oauth2/authorize` },
      { url: 'token', valueUri: `${sim.origin}/oauth/oauth2/token` },
    ]);
    const types = statement.rest[0].resource.map((r: { type: string }) => r.type);
    expect(types).toContain('DocumentReference');
  });

  it('lists the search parameters of the declared methods, switched ones only when accepted', async () => {
    type Resource = {
      type: string;
      interaction: { code: string }[];
      searchParam?: { name: string }[];
    };
    const resources = async () =>
      (await (await fetch(`${sim.base()}/metadata`)).json()).rest[0].resource as Resource[];
    const names = (list: Resource[], type: string) =>
      list.find((r) => r.type === type)?.searchParam?.map((p) => p.name);
    const before = await resources();
    expect(names(before, 'Observation')).toEqual(['patient', 'category', 'date', 'code', 'status']);
    expect(names(before, 'CareTeam')).toEqual(['patient', 'status']);
    expect(before.find((r) => r.type === 'Provenance')?.interaction).toEqual([{ code: 'read' }]);
    expect(names(before, 'Provenance')).toBeUndefined();
    await sim.admin('PATCH', '/quirks', { searchLastUpdated: 'accept' });
    try {
      expect(names(await resources(), 'CareTeam')).toEqual(['patient', 'status', '_lastUpdated']);
    } finally {
      await sim.admin('PATCH', '/quirks', { searchLastUpdated: 'refuse' });
    }
  });

  it("writes the CapabilityStatement in the profile's style: healow pretty, generic compact", async () => {
    const healow = await fetch(`${sim.base()}/metadata`);
    expect((await healow.text()).startsWith('{\n  "resourceType": "CapabilityStatement",')).toBe(
      true,
    );
    await sim.admin('PATCH', '/profile', { profile: 'generic' });
    try {
      const generic = await fetch(`${sim.base()}/metadata`);
      expect(generic.headers.get('content-type')).toBe('application/fhir+json;charset=utf-8');
      expect((await generic.text()).startsWith('{"resourceType":"CapabilityStatement",')).toBe(
        true,
      );
    } finally {
      await sim.admin('PATCH', '/profile', { profile: 'healow' });
    }
  });

  it('sends no CORS headers, and an OPTIONS preflight fails', async () => {
    const urls = [
      `${sim.base()}/.well-known/smart-configuration`,
      `${sim.base()}/metadata`,
      `${sim.origin}/oauth/oauth2/token`,
      `${sim.origin}/oauth/oauth2/jwks`,
    ];
    for (const url of urls) {
      const preflight = await fetch(url, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example.com',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization',
        },
      });
      expect(preflight.status).toBeGreaterThanOrEqual(400);
      const get = await fetch(url, { headers: { origin: 'https://app.example.com' } });
      for (const response of [preflight, get]) {
        const cors: string[] = [];
        response.headers.forEach((_value, name) => {
          if (name.startsWith('access-control-')) cors.push(name);
        });
        expect(cors).toEqual([]);
      }
    }
  });
});
