// The FHIR proxy against the simulator (healow as observed) over real HTTP: the EHR's refusals
// pass on, its failures and silence are ours, search Bundles keep the EHR's bytes but point at
// the bridge, and the base's metadata and smart-configuration pass.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let stack: Stack;
let connectionId: string;
let patientId: string;
let proxy: string;

beforeAll(async () => {
  stack = await startStack({
    simulator: { rateLimit: { limit: 5000 } },
    config: { sync: { concurrency: 0, onConnect: false, intervalMs: 0 } },
  });
  ({ connectionId } = await connectPatient(stack, { username: 'AdultFemaleFHIR' }));
  patientId = (await stack.runtime.vault.get(connectionId)).patientId ?? '';
  proxy = `${stack.url}/api/connections/${connectionId}/fhir/`;
});
afterAll(() => stack.close());
beforeEach(async () => {
  expect((await fetch(`${stack.sim.url}/admin/faults`, { method: 'DELETE' })).status).toBe(204);
});

const get = (path: string, headers: Record<string, string> = {}) =>
  stack.api(`/api/connections/${connectionId}/fhir/${path}`, { headers });

/** The same GET straight at the simulator with the connection's token: what the EHR sends. */
async function direct(path: string): Promise<string> {
  const token = await stack.runtime.vault.tokenSource(connectionId).accessToken();
  const res = await fetch(`${stack.sim.url}/fhir/r4/JAFJCD/${path}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
  });
  expect(res.status).toBe(200);
  return res.text();
}

/** Every JSON number token and every key, in order: what must survive byte for byte. */
const numbers = (text: string) => [...text.matchAll(/":\s*(-?\d[\d.eE+-]*)/g)].map((m) => m[1]);
const keys = (text: string) => [...text.matchAll(/"([^"\\]+)"\s*:/g)].map((m) => m[1]);

describe('FHIR proxy against the simulator', () => {
  it("passes a refused search on as a 400 with the EHR's diagnostics", async () => {
    const res = await get(`Condition?patient=${patientId}&foo=bar`);
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { issue: Array<{ code: string; diagnostics: string }> };
    expect(outcome.issue[0]).toMatchObject({
      severity: 'error',
      code: 'processing',
      diagnostics:
        'Invalid request: Does not know how to handle get operation with parameter [patient,foo]',
    });
  });

  it('answers an upstream 500 with a 502', async () => {
    await stack.admin('/faults', {
      method: 'POST',
      body: JSON.stringify({
        route: 'fhir',
        pathPrefix: '/fhir/r4/JAFJCD/Condition',
        errorRate: 1,
        errorStatus: 500,
      }),
    });
    const res = await get(`Condition?patient=${patientId}`, { prefer: 'wait=2' });
    expect(res.status).toBe(502);
    const outcome = (await res.json()) as {
      issue: Array<{ code: string; details: { text: string } }>;
    };
    expect(outcome.issue[0]).toMatchObject({
      code: 'exception',
      details: { text: 'upstream_error' },
    });
  });

  it("answers a hanging search with a 504 within the caller's wait", async () => {
    await stack.admin('/faults', {
      method: 'POST',
      body: JSON.stringify({
        route: 'fhir',
        pathPrefix: '/fhir/r4/JAFJCD/DocumentReference',
        timeout: true,
      }),
    });
    const started = Date.now();
    const res = await get(`DocumentReference?patient=${patientId}`, { prefer: 'wait=1' });
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(2500);
    // The other types still answer.
    expect((await get(`Patient/${patientId}`)).status).toBe(200);
  });

  it("keeps the EHR's numbers and key order, and points fullUrls and links at the bridge", async () => {
    const path = `Observation?patient=${patientId}&category=laboratory&_count=5`;
    const sent = await direct(path);
    const res = await get(path);
    expect(res.status).toBe(200);
    const text = await res.text();
    // The EHR writes decimals with trailing zeros (`1.0`): JSON.parse would lose them.
    expect(numbers(sent).some((n) => /\.\d*0$/.test(n ?? ''))).toBe(true);
    expect(numbers(text)).toEqual(numbers(sent));
    expect(keys(text)).toEqual(keys(sent));
    // Pretty-printed as sent, not re-serialized.
    expect(text.includes('\n')).toBe(sent.includes('\n'));

    const bundle = JSON.parse(text) as {
      link: Array<{ relation: string; url: string }>;
      entry: Array<{ fullUrl: string }>;
    };
    expect(bundle.entry.length).toBeGreaterThan(0);
    for (const entry of bundle.entry)
      expect(entry.fullUrl.startsWith(`${proxy}Observation/`)).toBe(true);
    for (const link of bundle.link) expect(link.url.startsWith(proxy)).toBe(true);

    // The next link, followed through the bridge, is the EHR's next page.
    const next = bundle.link.find((l) => l.relation === 'next');
    expect(next).toBeDefined();
    const second = await get((next?.url ?? '').slice(proxy.length));
    expect(second.status).toBe(200);
    const page2 = (await second.json()) as { entry: Array<{ fullUrl: string }> };
    expect(page2.entry[0]?.fullUrl.startsWith(`${proxy}Observation/`)).toBe(true);
    expect(page2.entry[0]?.fullUrl).not.toBe(bundle.entry[0]?.fullUrl);
  });

  it('passes metadata and smart-configuration through', async () => {
    const metadata = await get('metadata');
    expect(metadata.status).toBe(200);
    expect(((await metadata.json()) as { resourceType: string }).resourceType).toBe(
      'CapabilityStatement',
    );
    const smart = await get('.well-known/smart-configuration');
    expect(smart.status).toBe(200);
    const config = (await smart.json()) as { token_endpoint: string };
    expect(config.token_endpoint).toBe(`${stack.sim.url}/oauth/oauth2/token`);
  });
});
