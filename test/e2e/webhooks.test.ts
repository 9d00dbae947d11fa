// Webhooks and the sync API end to end: a patient connects, the app asks for a sync over the API
// and watches its per-type progress, and a real receiver on 127.0.0.1 gets `connection.connected`
// and `sync.completed`, signed, with no token anywhere in them.
import { createHmac, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

let stack: Stack | undefined;
let receiver: Server | undefined;
afterEach(async () => {
  await stack?.close();
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  stack = receiver = undefined;
});

/** What the app's receiver does (Standard Webhooks), written here without fhirbridge's code. */
function verified(secret: string, r: Received): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signed = `${r.headers['webhook-id']}.${r.headers['webhook-timestamp']}.${r.body}`;
  const expected = `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
  const age = Math.abs(Date.now() / 1000 - Number(r.headers['webhook-timestamp']));
  return String(r.headers['webhook-signature']).split(' ').includes(expected) && age < 300;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

it('a receiver gets signed connected and sync.completed webhooks; the API shows the sync', async () => {
  const { url, received } = await startReceiver();
  const secret = `whsec_${randomBytes(32).toString('base64')}`;

  stack = await startStack({
    simulator: { rateLimit: { limit: 5000 } },
    config: {
      webhooks: [{ url, secret }],
      webhookDelivery: { pollIntervalMs: 50 },
      sync: { pollIntervalMs: 50, progressIntervalMs: 0, onConnect: false },
    },
  });
  const s = stack;
  const { connectionId, outcome } = await connectPatient(s, { username: 'ChildFemaleFHIR' });
  expect(outcome).toBe('connected');

  const requested = await s.api(`/api/connections/${connectionId}/sync`, {
    method: 'POST',
    body: JSON.stringify({ mode: 'full' }),
  });
  expect(requested.status).toBe(202);
  const job = (await requested.json()) as { created: boolean; job: { id: string } };
  expect(job.created).toBe(true);
  // A second request while it is queued or running gets the same job.
  const again = await s.api(`/api/connections/${connectionId}/sync`, { method: 'POST' });
  expect(((await again.json()) as { job: { id: string } }).job.id).toBe(job.job.id);

  const status = await until('the sync to succeed', async () => {
    const res = await s.api(`/api/connections/${connectionId}/sync`);
    const body = (await res.json()) as {
      status: string;
      progress: { types: Record<string, { status: string; resources: number }> } | null;
      job: { error: string | null };
    };
    if (body.status === 'failed') throw new Error(`sync failed: ${body.job.error}`);
    return body.status === 'succeeded' ? body : undefined;
  });
  const types = status.progress?.types ?? {};
  expect(types.Patient).toMatchObject({ status: 'done', resources: 1 });
  expect(Object.values(types).every((t) => ['done', 'skipped'].includes(t.status))).toBe(true);

  const byType = await until('both webhooks', async () => {
    const types = new Map(received.map((r) => [JSON.parse(r.body).type as string, r]));
    return types.has('connection.connected') && types.has('sync.completed') ? types : undefined;
  });
  for (const [type, r] of byType) {
    expect(verified(secret, r), type).toBe(true);
    expect(r.body).not.toMatch(/access_token|refresh_token|id_token|whsec_/);
  }
  const connected = JSON.parse(byType.get('connection.connected')!.body);
  expect(connected).toMatchObject({
    type: 'connection.connected',
    data: { connectionId, patient: expect.any(String) },
  });
  const completed = JSON.parse(byType.get('sync.completed')!.body);
  expect(completed.data).toMatchObject({ connectionId, runId: job.job.id, mode: 'full' });
  // The event counts what the sync stored: every row of the connection after one full run.
  const stored = await s.runtime.store.resources.countByType(connectionId);
  expect(completed.data.resources).toBe(Object.values(stored).reduce((a, b) => a + b, 0));

  const deliveries = await s.api('/api/webhooks/deliveries?status=delivered');
  const listed = (await deliveries.json()) as { deliveries: Array<{ eventType: string }> };
  expect(listed.deliveries.map((d) => d.eventType)).toEqual(
    expect.arrayContaining(['connection.connected', 'sync.completed']),
  );
});

/** A receiver on 127.0.0.1 that keeps what it is sent. */
async function startReceiver(): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver?.listen(0, '127.0.0.1', resolve));
  const address = receiver.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/hooks`, received };
}

it('an endpoint made over the API gets signed webhooks; its secret is answered once and kept sealed', async () => {
  const { url, received } = await startReceiver();
  stack = await startStack({
    simulator: { rateLimit: { limit: 5000 } },
    config: {
      webhookDelivery: { pollIntervalMs: 50 },
      sync: { onConnect: false },
    },
  });
  const s = stack;
  const json = (body: unknown) => ({ body: JSON.stringify(body) });

  // Refused: plain http to another machine, an unknown event name, and an app key.
  const remote = await s.api('/api/webhooks/endpoints', {
    method: 'POST',
    ...json({ url: 'http://hooks.example.org/in' }),
  });
  expect(remote.status).toBe(400);
  const badEvents = await s.api('/api/webhooks/endpoints', {
    method: 'POST',
    ...json({ url, events: ['Connection connected'] }),
  });
  expect(badEvents.status).toBe(400);
  const appKey = (await (
    await s.api('/api/apikeys', { method: 'POST', ...json({ name: 'crm', role: 'app' }) })
  ).json()) as { secret: string };
  const byApp = await fetch(`${s.url}/api/webhooks/endpoints`, {
    method: 'POST',
    headers: { authorization: `Bearer ${appKey.secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url }),
  });
  expect(byApp.status).toBe(403);

  const created = await s.api('/api/webhooks/endpoints', {
    method: 'POST',
    ...json({ url, description: 'CRM', events: ['connection.*'] }),
  });
  expect(created.status).toBe(201);
  const endpoint = (await created.json()) as { id: string; secret: string };
  expect(endpoint).toMatchObject({
    id: expect.stringMatching(/^wep_/),
    url,
    description: 'CRM',
    events: ['connection.*'],
    source: 'api',
    secret: expect.stringMatching(/^whsec_/),
  });
  const { secret } = endpoint;
  // Shown once: never in a read, never in plain text in the database file.
  const read = await (await s.api(`/api/webhooks/endpoints/${endpoint.id}`)).text();
  const list = await (await s.api('/api/webhooks/endpoints')).text();
  for (const text of [read, list]) expect(text).not.toContain('whsec_');
  expect(JSON.parse(list).endpoints.map((e: { id: string }) => e.id)).toEqual([endpoint.id]);
  const again = await s.api('/api/webhooks/endpoints', { method: 'POST', ...json({ url }) });
  expect(again.status).toBe(409);

  const { connectionId } = await connectPatient(s, { username: 'ChildFemaleFHIR' });
  const connected = await until('connection.connected at the new endpoint', async () =>
    received.find((r) => JSON.parse(r.body).type === 'connection.connected'),
  );
  expect(verified(secret, connected)).toBe(true);
  expect(JSON.parse(connected.body).data.connectionId).toBe(connectionId);

  // Changed over the API: the dispatcher's next pass uses the new filter.
  const changed = await s.api(`/api/webhooks/endpoints/${endpoint.id}`, {
    method: 'PATCH',
    ...json({ events: ['sync.*'], description: null }),
  });
  expect(await changed.json()).toMatchObject({ events: ['sync.*'], description: null });
  await s.runtime.webhooks.dispatcher.runOnce();
  const before = received.length;
  await s.api(`/api/connections/${connectionId}`, { method: 'DELETE' });
  await s.runtime.webhooks.dispatcher.runOnce();
  expect(received.length).toBe(before); // connection.disconnected is not a sync.* event

  expect((await s.api(`/api/webhooks/endpoints/${endpoint.id}`, { method: 'DELETE' })).status).toBe(
    204,
  );
  expect((await s.api(`/api/webhooks/endpoints/${endpoint.id}`)).status).toBe(404);
  expect((await s.api(`/api/webhooks/endpoints/${endpoint.id}`, { method: 'DELETE' })).status).toBe(
    404,
  );

  const files = readdirSync(s.dataDir).filter((f) => f.startsWith('fhirbridge.db'));
  expect(files.length).toBeGreaterThan(0);
  const base64 = secret.slice('whsec_'.length);
  for (const file of files) {
    const bytes = readFileSync(join(s.dataDir, file));
    expect(bytes.includes(base64), file).toBe(false);
    expect(bytes.includes(Buffer.from(base64, 'base64')), file).toBe(false);
  }
});
