// The sync and webhook-delivery routes, called in-process: a job per request (the running one on
// a second request), the latest run's per-type progress, state checks, input validation.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { webhookDeliverySchema } from '../config/schema-background.ts';
import { createEventLog } from '../events/log.ts';
import { createWebhooks, type Webhooks } from '../events/webhooks.ts';
import { installErrorHandling } from '../http/errors.ts';
import type { JobQueue } from '../jobs/port.ts';
import { createStoreJobQueue } from '../jobs/store-queue.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { connection } from '../store/store.contract.ts';
import { registerSyncRoutes } from './sync.ts';
import { registerWebhookRoutes } from './webhooks.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-api-sync-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CON = 'con_abcdefghijklmnop';
const REVOKED = 'con_revokedrevoked01';

describe('sync and webhook routes', () => {
  let store: Store;
  let clock: ManualClock;
  let jobs: JobQueue;
  let webhooks: Webhooks;
  let app: FastifyInstance;

  beforeEach(async () => {
    store = await openSqliteStore({ path: join(mkdtempSync(join(root, 'a-')), 'store.db') });
    clock = new ManualClock();
    jobs = createStoreJobQueue({ repo: store.jobs, clock });
    const logger = createLogger({ level: 'silent' });
    webhooks = createWebhooks({
      config: {
        webhooks: [{ url: 'http://127.0.0.1:1/hooks', secret: `whsec_${'A'.repeat(32)}` }],
        webhookDelivery: webhookDeliverySchema.parse({}),
      },
      store,
      clock,
      logger,
    });
    await store.connections.insert(connection({ id: CON }));
    await store.connections.insert(
      connection({ id: REVOKED, userRef: 'u2', state: 'revoked', stateReason: 'consent revoked' }),
    );
    const vault = {
      async get(id: string) {
        const c = await store.connections.get(id);
        if (!c) throw new BridgeError('not_found', `unknown connection "${id}"`);
        return c;
      },
    };
    app = Fastify();
    installErrorHandling(app);
    registerSyncRoutes(app, { jobs, vault, store });
    registerWebhookRoutes(app, { webhooks });
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    await store.close();
  });

  const post = (url: string, payload?: Record<string, unknown>) =>
    payload === undefined
      ? app.inject({ method: 'POST', url })
      : app.inject({ method: 'POST', url, payload });

  it('POST queues a sync (202) and returns the running one while it runs', async () => {
    const first = await post(`/api/connections/${CON}/sync`, { mode: 'full' });
    expect(first.statusCode).toBe(202);
    const body = first.json();
    expect(body).toMatchObject({
      created: true,
      connectionId: CON,
      status: 'queued',
      job: { mode: 'full', attempts: 0 },
      progress: null,
    });
    await jobs.claim('w1');
    const second = await post(`/api/connections/${CON}/sync`);
    expect(second.statusCode).toBe(202);
    expect(second.json()).toMatchObject({
      created: false,
      status: 'running',
      job: { id: body.job.id, mode: 'full' },
    });
  });

  it('GET shows the latest run with its per-type progress', async () => {
    expect((await app.inject(`/api/connections/${CON}/sync`)).json()).toEqual({
      connectionId: CON,
      status: 'never',
      job: null,
      progress: null,
      result: null,
      lastRun: null,
      next: null,
    });
    const { job } = (await post(`/api/connections/${CON}/sync`)).json();
    await jobs.claim('w1');
    const types = {
      Patient: { status: 'done', resources: 1, pages: 1 },
      Observation: { status: 'running', resources: 250, pages: 3 },
      Condition: { status: 'pending', resources: 0, pages: 0 },
    };
    await jobs.heartbeat(job.id, 'w1', {
      runId: job.id,
      connectionId: CON,
      mode: 'full',
      types,
      startedAt: clock.now(),
    });
    const status = (await app.inject(`/api/connections/${CON}/sync`)).json();
    expect(status).toMatchObject({
      status: 'running',
      job: { id: job.id, attempts: 1, startedAt: new Date(clock.now()).toISOString() },
      progress: { mode: 'full', types },
    });
  });

  it('GET shows the last run that ended, how each type ended, beside the next one due', async () => {
    await store.sync.createRun({
      id: 'sync_prev',
      connectionId: CON,
      mode: 'auto',
      status: 'completed',
      outcome: 'partial',
      startedAt: clock.now() - 60_000,
      finishedAt: clock.now() - 1_000,
      progress: {
        Patient: { status: 'done', outcome: 'complete', resources: 1, pages: 1 },
        DocumentReference: {
          status: 'failed',
          outcome: 'timed_out',
          resources: 0,
          pages: 0,
          reason: 'DocumentReference did not finish within its deadline of 120 s',
        },
      },
      result: { totals: { resources: 1, inserted: 1 } },
      reason: null,
      error: null,
      updatedAt: clock.now(),
    });
    const { job } = (await post(`/api/connections/${CON}/sync`)).json();
    const status = (await app.inject(`/api/connections/${CON}/sync`)).json();
    expect(status.lastRun).toEqual({
      id: 'sync_prev',
      status: 'completed',
      outcome: 'partial',
      startedAt: new Date(clock.now() - 60_000).toISOString(),
      finishedAt: new Date(clock.now() - 1_000).toISOString(),
      reason: null,
      error: null,
      types: {
        Patient: { outcome: 'complete', resources: 1 },
        DocumentReference: {
          outcome: 'timed_out',
          resources: 0,
          reason: 'DocumentReference did not finish within its deadline of 120 s',
        },
      },
      notes: [
        'DocumentReference: timed out (DocumentReference did not finish within its deadline of 120 s)',
      ],
      totals: { resources: 1, inserted: 1 },
    });
    expect(status.next).toEqual({
      jobId: job.id,
      runAt: new Date(clock.now()).toISOString(),
      mode: 'auto',
      retry: false,
    });
  });

  it('refuses a sync of a revoked or unknown connection, and a bad mode', async () => {
    const revoked = await post(`/api/connections/${REVOKED}/sync`);
    expect(revoked.statusCode).toBe(409);
    expect(revoked.json().error).toMatchObject({ code: 'revoked' });
    expect(revoked.json().error.message).toContain('consent revoked');
    expect((await post('/api/connections/con_unknownunknown/sync')).statusCode).toBe(404);
    expect((await app.inject('/api/connections/con_unknownunknown/sync')).statusCode).toBe(404);
    const bad = await post(`/api/connections/${CON}/sync`, { mode: 'everything' });
    expect(bad.statusCode).toBe(400);
    expect((await post('/api/connections/nope/sync')).statusCode).toBe(400);
    expect(await jobs.list({ limit: 10 })).toEqual([]);
  });

  it('lists deliveries by status, shows one, and redelivers it', async () => {
    await webhooks.dispatcher.runOnce();
    await createEventLog({ store, clock, logger: createLogger({ level: 'silent' }) }).emit(
      'connection.connected',
      CON,
      { patient: 'p1' },
    );
    await webhooks.dispatcher.runOnce(); // port 1 refuses: the attempt fails, a retry is due
    const pending = (await app.inject('/api/webhooks/deliveries?status=pending')).json();
    expect(pending.deliveries).toHaveLength(1);
    const d = pending.deliveries[0];
    expect(d).toMatchObject({
      eventType: 'connection.connected',
      connectionId: CON,
      status: 'pending',
      attempts: 1,
      payload: { type: 'connection.connected', data: { connectionId: CON, patient: 'p1' } },
    });
    expect(JSON.stringify(d)).not.toContain('whsec_');
    expect((await app.inject('/api/webhooks/deliveries?status=dead')).json().deliveries).toEqual(
      [],
    );
    expect((await app.inject(`/api/webhooks/deliveries/${d.id}`)).json().id).toBe(d.id);
    const again = await post(`/api/webhooks/deliveries/${d.id}/redeliver`);
    expect(again.statusCode).toBe(202);
    expect(again.json()).toMatchObject({ id: d.id, attempts: 0, redeliveries: 1 });
    expect((await post('/api/webhooks/deliveries/whd_unknownunknown/redeliver')).statusCode).toBe(
      404,
    );
    expect((await app.inject('/api/webhooks/deliveries?status=lost')).statusCode).toBe(400);
  });
});
