// Webhook delivery to a real receiver on 127.0.0.1: signatures checked the way a receiver would
// (computed here independently), retries with backoff on a ManualClock, dead letters,
// redelivery, event filters, secret scrubbing, and one delivery per event across dispatchers.
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { createLogger } from '../common/logger.ts';
import { ManualTimers } from '../common/timers.ts';
import { webhookDeliverySchema } from '../config/schema-background.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { createEventLog, type EventLog } from './log.ts';
import { createWebhooks, viewDelivery, type Webhooks } from './webhooks.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-webhooks-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const logger = createLogger({ level: 'silent' });
const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A webhook receiver: records what arrives, answers with the next status of `statuses`. */
async function startReceiver(clock: ManualClock) {
  const received: Received[] = [];
  const statuses: number[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        at: clock.now(),
      });
      res.writeHead(statuses.shift() ?? 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    statuses,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** What a receiver does (Standard Webhooks): HMAC-SHA256 of "id.timestamp.body", base64-decoded key. */
function receiverVerifies(secret: string, r: Received): boolean {
  const id = r.headers['webhook-id'] as string;
  const timestamp = r.headers['webhook-timestamp'] as string;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${id}.${timestamp}.${r.body}`)
    .digest('base64');
  const signatures = String(r.headers['webhook-signature'])
    .split(' ')
    .map((s) => s.split(',', 2));
  return signatures.some(([version, sig]) => version === 'v1' && sig === expected);
}

describe('webhooks', () => {
  let store: Store;
  let clock: ManualClock;
  let events: EventLog;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const opened: Webhooks[] = [];

  beforeEach(async () => {
    store = await openSqliteStore({ path: join(mkdtempSync(join(root, 'h-')), 'store.db') });
    clock = new ManualClock(Date.UTC(2026, 2, 1, 9, 30, 15, 250));
    events = createEventLog({ store, clock, logger });
    receiver = await startReceiver(clock);
  });
  afterEach(async () => {
    for (const w of opened.splice(0)) await w.dispatcher.close();
    await receiver.close();
    await store.close();
  });

  const webhooks = (
    endpoints: Array<{ url: string; secret: string; events?: string[] }>,
    delivery: Record<string, number> = {},
    extra: { fetch?: typeof fetch; timers?: ManualTimers } = {},
  ) => {
    const w = createWebhooks({
      config: { webhooks: endpoints, webhookDelivery: webhookDeliverySchema.parse(delivery) },
      store,
      clock,
      logger,
      ...extra,
    });
    opened.push(w);
    return w;
  };

  it('sends each event signed in the Standard Webhooks style', async () => {
    const secret = newSecret();
    const w = webhooks([{ url: receiver.url, secret }]);
    await w.dispatcher.runOnce(); // the endpoint starts here: later events only
    const event = await events.emit('connection.connected', 'con_1', {
      patient: 'pat-1',
      scopes: ['openid', 'patient/*.read'],
    });
    expect(await w.dispatcher.runOnce()).toBe(1);

    expect(receiver.received).toHaveLength(1);
    const r = receiver.received[0]!;
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['webhook-id']).toBe(event.id);
    expect(r.headers['webhook-timestamp']).toBe(String(Math.floor(clock.now() / 1000)));
    expect(receiverVerifies(secret, r)).toBe(true);
    expect(receiverVerifies(newSecret(), r)).toBe(false);
    expect(receiverVerifies(secret, { ...r, body: r.body.replace('pat-1', 'pat-2') })).toBe(false);
    expect(JSON.parse(r.body)).toEqual({
      type: 'connection.connected',
      timestamp: '2026-03-01T09:30:15.250Z',
      data: { connectionId: 'con_1', patient: 'pat-1', scopes: ['openid', 'patient/*.read'] },
    });
    const [delivery] = await w.list({ limit: 10 });
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, lastStatus: 204 });
  });

  it('retries with exponential backoff, then delivers', async () => {
    const w = webhooks([{ url: receiver.url, secret: newSecret() }], {
      initialDelayMs: 10_000,
      maxAttempts: 8,
    });
    await w.dispatcher.runOnce();
    await events.emit('sync.completed', 'con_1', { resources: 12 });
    receiver.statuses.push(500, 503, 502);
    const t0 = clock.now();

    await w.dispatcher.runOnce();
    const [first] = await w.list({ limit: 1 });
    expect(first).toMatchObject({
      status: 'pending',
      attempts: 1,
      lastStatus: 500,
      lastError: 'HTTP 500',
      nextAttemptAt: t0 + 10_000,
    });
    clock.advance(9_999);
    expect(await w.dispatcher.runOnce()).toBe(0);
    clock.advance(1);
    expect(await w.dispatcher.runOnce()).toBe(1); // second attempt at +10 s: 503
    expect((await w.list({ limit: 1 }))[0]?.nextAttemptAt).toBe(t0 + 10_000 + 40_000);
    clock.set(t0 + 50_000);
    await w.dispatcher.runOnce(); // third at +50 s: 502, next ×4 again
    expect((await w.list({ limit: 1 }))[0]?.nextAttemptAt).toBe(t0 + 50_000 + 160_000);
    clock.set(t0 + 210_000);
    await w.dispatcher.runOnce(); // fourth: 204

    expect(receiver.received.map((r) => r.at - t0)).toEqual([0, 10_000, 50_000, 210_000]);
    // Same message id on every attempt; a fresh timestamp and signature each time.
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-timestamp'])).size).toBe(4);
    expect((await w.list({ limit: 1 }))[0]).toMatchObject({
      status: 'delivered',
      attempts: 4,
      deliveredAt: t0 + 210_000,
    });
  });

  it('dead-letters after maxAttempts, and redelivers on request', async () => {
    const secret = newSecret();
    const w = webhooks([{ url: receiver.url, secret }], { initialDelayMs: 1_000, maxAttempts: 3 });
    await w.dispatcher.runOnce();
    const event = await events.emit('connection.revoked', 'con_1', { reason: 'revoked' });
    receiver.statuses.push(500, 500, 500);
    for (let i = 0; i < 5; i++) {
      await w.dispatcher.runOnce();
      clock.advance(60_000);
    }
    expect(receiver.received).toHaveLength(3);
    const [dead] = await w.list({ status: 'dead', limit: 10 });
    expect(dead).toMatchObject({ eventId: event.id, attempts: 3, lastError: 'HTTP 500' });
    expect(viewDelivery(dead!).nextAttemptAt).toBeNull();

    const again = await w.redeliver(dead!.id);
    expect(again).toMatchObject({ status: 'pending', attempts: 0, redeliveries: 1 });
    await w.dispatcher.runOnce();
    expect(receiver.received).toHaveLength(4);
    expect(receiver.received[3]?.headers['webhook-id']).toBe(event.id);
    expect(receiverVerifies(secret, receiver.received[3]!)).toBe(true);
    expect(await w.get(dead!.id)).toMatchObject({ status: 'delivered', redeliveries: 1 });
    await expect(w.redeliver('whd_unknown')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('records a receiver that cannot be reached', async () => {
    const gone = await startReceiver(clock);
    await gone.close();
    const w = webhooks([{ url: gone.url, secret: newSecret() }]);
    await w.dispatcher.runOnce();
    await events.emit('connection.expired', 'con_1', {});
    await w.dispatcher.runOnce();
    expect((await w.list({ limit: 1 }))[0]).toMatchObject({
      status: 'pending',
      lastStatus: null,
      lastError: 'could not connect (ECONNREFUSED)',
    });
  });

  it('sends each endpoint the events it asked for', async () => {
    const other = await startReceiver(clock);
    try {
      const w = webhooks([
        { url: receiver.url, secret: newSecret(), events: ['connection.*'] },
        { url: other.url, secret: newSecret(), events: ['sync.completed', 'sync.failed'] },
      ]);
      await w.dispatcher.runOnce();
      await events.emit('connection.connected', 'con_1', {});
      await events.emit('sync.completed', 'con_1', {});
      await events.emit('connection.expiring', 'con_1', {});
      await events.emit('sync.failed', 'con_1', {});
      await w.dispatcher.runOnce();
      const types = (rs: Received[]) => rs.map((r) => JSON.parse(r.body).type as string).sort();
      expect(types(receiver.received)).toEqual(['connection.connected', 'connection.expiring']);
      expect(types(other.received)).toEqual(['sync.completed', 'sync.failed']);
    } finally {
      await other.close();
    }
  });

  it('starts a new endpoint after the events it never saw', async () => {
    await events.emit('connection.connected', 'con_old', {});
    const w = webhooks([{ url: receiver.url, secret: newSecret() }]);
    await w.dispatcher.runOnce();
    await events.emit('connection.connected', 'con_new', {});
    await w.dispatcher.runOnce();
    expect(receiver.received.map((r) => JSON.parse(r.body).data.connectionId)).toEqual(['con_new']);
  });

  it('never sends a token, whatever an event carries', async () => {
    const w = webhooks([{ url: receiver.url, secret: newSecret() }]);
    await w.dispatcher.runOnce();
    await events.emit('connection.error', 'con_1', {
      error: 'invalid_grant',
      access_token: 'AT-SECRET',
      nested: { refresh_token: 'RT-SECRET', idToken: 'ID-SECRET', kept: 1 },
      list: [{ clientSecret: 'CS-SECRET' }],
    });
    await w.dispatcher.runOnce();
    const body = receiver.received[0]?.body ?? '';
    expect(body).not.toMatch(/SECRET/);
    expect(JSON.parse(body).data).toEqual({
      connectionId: 'con_1',
      error: 'invalid_grant',
      nested: { kept: 1 },
      list: [{}],
    });
  });

  it('makes one delivery per event and endpoint when dispatchers race', async () => {
    const config = [{ url: receiver.url, secret: newSecret() }];
    const a = webhooks(config);
    const b = webhooks(config);
    await a.dispatcher.runOnce();
    for (let i = 0; i < 30; i++) await events.emit('sync.completed', `con_${i}`, {});
    await Promise.all([a.dispatcher.runOnce(), b.dispatcher.runOnce(), a.dispatcher.runOnce()]);
    await Promise.all([a.dispatcher.runOnce(), b.dispatcher.runOnce()]);
    const ids = receiver.received.map((r) => r.headers['webhook-id']);
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
  });

  it('runs on its timers once started and stops on close', async () => {
    const timers = new ManualTimers(clock);
    const sent: string[] = [];
    const fakeFetch = (async (_url: string | URL | Request, init?: RequestInit) => {
      sent.push(String(init?.body));
      return new Response(null, { status: 200 });
    }) as typeof fetch;
    const w = webhooks(
      [{ url: 'https://app.example/hooks', secret: newSecret() }],
      { pollIntervalMs: 1_000 },
      { fetch: fakeFetch, timers },
    );
    w.dispatcher.start(); // a first pass at once: the endpoint's cursor starts here
    await timers.advance(0);
    await events.emit('connection.connected', 'con_1', {});
    await timers.advance(999);
    expect(sent).toHaveLength(0);
    await timers.advance(1);
    expect(sent).toHaveLength(1);
    await w.dispatcher.close();
    await events.emit('connection.revoked', 'con_1', {});
    await timers.advance(10_000);
    expect(sent).toHaveLength(1);
  });
});
