import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { isBridgeError } from '../common/errors.ts';
import { createDiscovery, OAUTH_URIS_EXTENSION } from './discovery.ts';
import { deadUrl, startTestServer, type TestServer } from './server.test-helper.ts';

let server: TestServer;
let base: string;

beforeEach(async () => {
  server = await startTestServer();
  base = `${server.url}/fhir/r4/JAFJCD`;
});
afterEach(() => server.close());

function smartConfiguration(extra: Record<string, unknown> = {}) {
  return {
    issuer: base,
    authorization_endpoint: `${server.url}/oauth/oauth2/authorize`,
    token_endpoint: `${server.url}/oauth/oauth2/token`,
    jwks_uri: `${server.url}/oauth/oauth2/jwks`,
    capabilities: ['launch-standalone', 'client-confidential-asymmetric'],
    code_challenge_methods_supported: ['S256'],
    ...extra,
  };
}

function capabilityStatement(uris: Record<string, string>) {
  return {
    resourceType: 'CapabilityStatement',
    rest: [
      {
        mode: 'server',
        security: {
          cors: true,
          extension: [
            {
              url: OAUTH_URIS_EXTENSION,
              extension: Object.entries(uris).map(([url, valueUri]) => ({ url, valueUri })),
            },
          ],
        },
      },
    ],
  };
}

async function discoveryError(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (err) {
    if (isBridgeError(err, 'discovery_failed')) return err;
    throw err;
  }
  throw new Error('expected discovery_failed');
}

describe('discovery', () => {
  it('reads .well-known/smart-configuration with Accept: application/json', async () => {
    server.handle((req) =>
      req.url === '/fhir/r4/JAFJCD/.well-known/smart-configuration'
        ? { body: smartConfiguration({ unknown_field: 1, scopes_supported: 'not a list' }) }
        : { status: 404 },
    );
    const discovery = createDiscovery({ clock: new ManualClock() });
    const config = await discovery.discover(`${base}/`);
    expect(config).toEqual({
      issuer: base,
      authorization_endpoint: `${server.url}/oauth/oauth2/authorize`,
      token_endpoint: `${server.url}/oauth/oauth2/token`,
      jwks_uri: `${server.url}/oauth/oauth2/jwks`,
      capabilities: ['launch-standalone', 'client-confidential-asymmetric'],
      code_challenge_methods_supported: ['S256'],
    });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.headers.accept).toBe('application/json');
  });

  it('falls back to the CapabilityStatement oauth-uris when smart-configuration fails', async () => {
    for (const failure of [
      { status: 404, body: 'Not Found' },
      { status: 200, body: '<html>portal</html>' },
      { status: 200, body: { authorization_endpoint: 'relative/path' } },
    ]) {
      server.requests.length = 0;
      server.handle((req) =>
        req.url.endsWith('/metadata')
          ? {
              body: capabilityStatement({
                authorize: `${server.url}/auth`,
                token: `${server.url}/token`,
                register: `${server.url}/register`,
              }),
            }
          : failure,
      );
      const config = await createDiscovery({ clock: new ManualClock() }).discover(base);
      expect(config).toEqual({
        authorization_endpoint: `${server.url}/auth`,
        token_endpoint: `${server.url}/token`,
      });
      expect(server.requests.map((r) => [r.url, r.headers.accept])).toEqual([
        ['/fhir/r4/JAFJCD/.well-known/smart-configuration', 'application/json'],
        ['/fhir/r4/JAFJCD/metadata', 'application/fhir+json'],
      ]);
    }
  });

  it('names the missing fields and the base when neither source has them', async () => {
    server.handle((req) =>
      req.url.endsWith('/metadata')
        ? { body: capabilityStatement({ authorize: `${server.url}/auth` }) }
        : { body: { authorization_endpoint: `${server.url}/auth` } },
    );
    const err = await discoveryError(createDiscovery({ clock: new ManualClock() }).discover(base));
    expect(err.message).toContain(base);
    expect(err.message).toContain('missing token_endpoint');
    expect(err.details).toEqual({ base, missing: ['token_endpoint'] });
  });

  it('fails clearly when the metadata has no oauth-uris at all', async () => {
    server.handle((req) =>
      req.url.endsWith('/metadata')
        ? { body: { resourceType: 'CapabilityStatement', rest: [{ mode: 'server' }] } }
        : { status: 400, body: 'bad' },
    );
    const err = await discoveryError(createDiscovery({ clock: new ManualClock() }).discover(base));
    expect(err.message).toMatch(/HTTP 400.*oauth-uris/);
    expect(err.details?.missing).toEqual(['authorization_endpoint', 'token_endpoint']);
  });

  it('fails with discovery_failed when the server is down', async () => {
    const err = await discoveryError(
      createDiscovery({ clock: new ManualClock() }).discover(`${await deadUrl()}/fhir`),
    );
    expect(err.message).toContain('unreachable');
  });

  it('caches per base until the TTL on the injected clock runs out', async () => {
    server.handle(() => ({ body: smartConfiguration() }));
    const clock = new ManualClock();
    const discovery = createDiscovery({ clock, ttlMs: 60_000 });
    await discovery.discover(base);
    await discovery.discover(`${base}/`);
    clock.advance(59_999);
    await discovery.discover(base);
    expect(server.requests).toHaveLength(1);
    clock.advance(1);
    await discovery.discover(base);
    expect(server.requests).toHaveLength(2);
    await discovery.discover(`${server.url}/fhir/r4/OTHER`);
    expect(server.requests).toHaveLength(3);
    discovery.forget(base);
    await discovery.discover(base);
    expect(server.requests).toHaveLength(4);
  });

  it('shares one request between concurrent lookups and does not cache failures', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    server.handle(async () => {
      await gate;
      return { body: smartConfiguration() };
    });
    const discovery = createDiscovery({ clock: new ManualClock() });
    const lookups = [discovery.discover(base), discovery.discover(base), discovery.discover(base)];
    release();
    const results = await Promise.all(lookups);
    expect(server.requests).toHaveLength(1);
    expect(results[1]).toBe(results[0]);

    server.handle(() => ({ status: 500, body: 'down' }));
    const other = `${server.url}/fhir/r4/OTHER`;
    await discoveryError(discovery.discover(other));
    server.handle(() => ({ body: smartConfiguration() }));
    await expect(discovery.discover(other)).resolves.toMatchObject({
      token_endpoint: `${server.url}/oauth/oauth2/token`,
    });
  });

  it('refuses a base that is not an absolute URL', async () => {
    const discovery = createDiscovery({ clock: new ManualClock() });
    await expect(discovery.discover('fhir4.healow.com/fhir')).rejects.toMatchObject({
      code: 'invalid_request',
    });
  });

  it('refuses plain-http endpoints advertised by an https base (no refresh token in clear text)', async () => {
    // An https base cannot be served on 127.0.0.1 without TLS: a stub answers for it.
    const httpsBase = 'https://ehr.example.test/fhir/r4/JAFJCD';
    const answer = {
      issuer: httpsBase,
      authorization_endpoint: 'https://auth.example.test/oauth/oauth2/authorize',
      token_endpoint: 'http://auth.example.test/oauth/oauth2/token',
      jwks_uri: 'https://auth.example.test/oauth/oauth2/jwks',
    };
    const fetchStub = (async (url: string | URL) =>
      String(url).endsWith('/.well-known/smart-configuration')
        ? Response.json(answer)
        : new Response('', { status: 404 })) as typeof fetch;
    const discovery = createDiscovery({ clock: new ManualClock(0), fetch: fetchStub });
    const err = await discoveryError(discovery.discover(httpsBase));
    expect(err.message).toMatch(/token_endpoint/);
  });
});
