// `/metrics` over real HTTP while a patient connects, a sync runs and a token is refreshed: the
// counters move by what happened, and only an admin key reads them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/access/api-keys.ts';
import { syncEngineOf } from '../../src/background.ts';
import { connectPatient } from './helpers/connect.ts';
import { type Recorder, startRecorder } from './helpers/front.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let stack: Stack;
/** The app's webhook receiver: answers 200 to every delivery. */
let receiver: Recorder;
/** FHIR requests the bridge sent: those carrying an access token (discovery and token calls do not). */
let sent = 0;
/** Those of them the EHR answered with a 2xx. */
let answered2xx = 0;
const counting: typeof fetch = async (input, init) => {
  const fhir = new Headers(init?.headers).get('authorization')?.startsWith('Bearer ') === true;
  if (fhir) sent++;
  const response = await fetch(input, init);
  if (fhir && response.status >= 200 && response.status < 300) answered2xx++;
  return response;
};

beforeAll(async () => {
  // The test runs the sync itself: no background worker syncing the same connection.
  receiver = await startRecorder();
  stack = await startStack({
    fetch: counting,
    config: {
      sync: { concurrency: 0, onConnect: false, intervalMs: 0 },
      webhooks: [
        { url: `${receiver.url}/hooks`, secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}` },
      ],
      webhookDelivery: { pollIntervalMs: 50 },
    },
  });
});
afterAll(async () => {
  await stack.close();
  await receiver.close();
});

/** The samples of a scrape, by name with labels as Prometheus prints them. */
async function scrape(): Promise<Map<string, number>> {
  const response = await stack.api('/metrics');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

describe('/metrics', () => {
  it('counts FHIR calls, the sync run, the refresh and the connection states as they happen', async () => {
    const base = `${stack.sim.url}/fhir/r4/JAFJCD`;
    const calls = `fhirbridge_fhir_calls_total{practice="${base}",outcome="2xx"}`;
    const before = await scrape();
    expect(before.get(calls)).toBeUndefined();
    expect(
      before.get('fhirbridge_sync_duration_seconds_count{outcome="succeeded"}'),
    ).toBeUndefined();

    const { connectionId } = await connectPatient(stack);
    const connected = await scrape();
    expect(connected.get('fhirbridge_connections{state="active"}')).toBe(1);

    const result = await syncEngineOf(stack.runtime).run(connectionId);
    expect(result.outcome).toBe('succeeded');
    const synced = await scrape();
    // Every call is counted once under its outcome (a refused query is a 4xx).
    const counted = [...synced]
      .filter(([name]) => name.startsWith(`fhirbridge_fhir_calls_total{practice="${base}"`))
      .reduce((sum, [, value]) => sum + value, 0);
    expect(counted).toBe(sent);
    expect(synced.get(calls)).toBe(answered2xx);
    expect(synced.get('fhirbridge_sync_duration_seconds_count{outcome="succeeded"}')).toBe(1);
    // Every call waited for its budget slot; none was refused.
    expect(
      synced.get(
        `fhirbridge_budget_wait_seconds_count{practice="${base}",priority="background",result="granted"}`,
      ),
    ).toBeGreaterThan(0);
    expect(synced.get(`fhirbridge_budget_utilization_ratio{practice="${base}"}`)).toBeGreaterThan(
      0,
    );

    // The connect and the sync are announced to the app's receiver by the background
    // dispatcher: each delivery it recorded is counted once, the receiver saw each one.
    const delivered = 'fhirbridge_webhook_deliveries_total{outcome="delivered"}';
    const types = (await stack.runtime.store.events.list({ limit: 1000 })).map((e) => e.type);
    expect(types).toEqual(['connection.connected', 'sync.completed']);
    const events = types.length;
    let deliveries = 0;
    for (let i = 0; i < 100; i++) {
      deliveries = (await scrape()).get(delivered) ?? 0;
      if (deliveries === events && receiver.requests.length === events) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // One endpoint: one delivery per event so far (the connect's and the sync's).
    expect(deliveries).toBe(events);
    expect(receiver.requests).toHaveLength(events);

    await stack.runtime.vault.tokenSource(connectionId).refreshed();
    const refreshed = await scrape();
    expect(refreshed.get('fhirbridge_token_refreshes_total{outcome="refreshed"}')).toBe(1);
  });

  it('counts an upstream 429 per practice', async () => {
    const base = `${stack.sim.url}/fhir/r4/JAFJCD`;
    const key = `fhirbridge_upstream_429_total{practice="${base}"}`;
    const before = (await scrape()).get(key) ?? 0;
    await stack.runtime.budget.reportRateLimited(base, { retryAfterMs: 1 });
    expect((await scrape()).get(key)).toBe(before + 1);
  });

  it('answers an app key 403: the labels name the practices served', async () => {
    const { secret } = await createApiKey(stack.runtime.store, stack.runtime.clock, 'app1', 'app');
    const response = await fetch(`${stack.url}/metrics`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(response.status).toBe(403);
    expect((await fetch(`${stack.url}/metrics`)).status).toBe(401);
  });
});
