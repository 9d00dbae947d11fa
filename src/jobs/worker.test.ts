// The worker on a ManualClock and ManualTimers over a real SQLite file: it runs due jobs, writes
// progress throttled, keeps its lease with heartbeats, retries after the backoff, and on close
// stops the running job at a checkpoint and gives it back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { ManualTimers } from '../common/timers.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import type { Job, JobQueue } from './port.ts';
import type { JobContext, JobHandler, JobOutcome } from './runner.ts';
import { createStoreJobQueue } from './store-queue.ts';
import { requestSync, type SyncProgress, type SyncRunner, syncJobHandler } from './sync-job.ts';
import { createWorker, type Worker } from './worker.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-worker-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const LEASE = 9_000;
const logger = createLogger({ level: 'silent' });

/** A job handler the test steps through: each run waits until the test settles it. */
function steppedHandler() {
  const runs: Array<{
    job: Job;
    context: JobContext;
    resolve(result: Record<string, unknown>): void;
    reject(error: unknown): void;
  }> = [];
  const handler: JobHandler = {
    run: (job, context) =>
      new Promise((resolve, reject) => {
        runs.push({ job, context, resolve, reject });
        // A real engine stops at its next checkpoint; this one stops at once.
        context.signal.addEventListener('abort', () => reject(context.signal.reason), {
          once: true,
        });
      }),
    retryable: (error) => !(error instanceof BridgeError && error.code === 'revoked'),
  };
  return { handler, runs };
}

describe('worker', () => {
  let store: Store;
  let clock: ManualClock;
  let timers: ManualTimers;
  let queue: JobQueue;
  let worker: Worker | undefined;
  const outcomes: JobOutcome[] = [];

  beforeEach(async () => {
    store = await openSqliteStore({ path: join(mkdtempSync(join(root, 'w-')), 'store.db') });
    clock = new ManualClock();
    timers = new ManualTimers(clock);
    queue = createStoreJobQueue({
      repo: store.jobs,
      clock,
      leaseMs: LEASE,
      maxAttempts: 3,
      backoff: { initialMs: 5_000, maxMs: 60_000 },
    });
    outcomes.length = 0;
  });

  afterEach(async () => {
    await worker?.close();
    worker = undefined;
    await store.close();
  });

  const start = (handler: JobHandler, concurrency = 1) => {
    worker = createWorker({
      queue,
      handlers: { sync: handler },
      clock,
      timers,
      logger,
      concurrency,
      pollIntervalMs: 1_000,
      progressIntervalMs: 500,
      owner: 'worker-1',
      onOutcome: (o) => outcomes.push(o),
    });
    worker.start();
    return worker;
  };

  it('runs a due job and stores its result', async () => {
    const { handler, runs } = steppedHandler();
    const { job } = await requestSync(queue, 'con_a');
    start(handler);
    await timers.advance(0);
    expect(runs).toHaveLength(1);
    expect(await queue.get(job.id)).toMatchObject({ status: 'running', leaseOwner: 'worker-1' });
    runs[0]?.resolve({ resources: 7 });
    await timers.advance(0);
    expect(await queue.get(job.id)).toMatchObject({
      status: 'succeeded',
      result: { resources: 7 },
    });
    expect(outcomes.map((o) => o.status)).toEqual(['succeeded']);
  });

  it('hands a job whose runner died on its last attempt to the handler, once', async () => {
    const { job } = await requestSync(queue, 'con_a');
    for (let attempt = 1; attempt <= 3; attempt++) {
      await queue.claim(`dead-${attempt}`);
      clock.advance(LEASE + 1);
    }
    const lapsed: string[] = [];
    const { handler } = steppedHandler();
    start({ ...handler, onLapsed: async (j) => void lapsed.push(j.id) });
    await timers.advance(0);
    await timers.advance(1_000); // the next poll looks again
    expect(lapsed).toEqual([job.id]);
    expect(await queue.get(job.id)).toMatchObject({ status: 'failed', attempts: 3 });
  });

  it('the sync handler ends the run of a lapsed job as failed for good', async () => {
    const abandoned: unknown[] = [];
    const engine: SyncRunner = {
      run: async () => {
        throw new Error('not run');
      },
      abandon: async (...args) => void abandoned.push(args),
    };
    const { job } = await requestSync(queue, 'con_a');
    for (let attempt = 1; attempt <= 3; attempt++) {
      await queue.claim(`dead-${attempt}`);
      clock.advance(LEASE + 1);
    }
    start(syncJobHandler(engine));
    await timers.advance(0);
    expect(abandoned).toEqual([
      [
        'con_a',
        job.id,
        {
          reason: 'lease_exhausted',
          error: 'its runner stopped without finishing (lease lapsed) on the last attempt',
          attempts: 3,
        },
      ],
    ]);
  });

  it('picks up a job enqueued later at the next poll', async () => {
    const { handler, runs } = steppedHandler();
    start(handler);
    await timers.advance(0);
    await requestSync(queue, 'con_a');
    await timers.advance(999);
    expect(runs).toHaveLength(0);
    await timers.advance(1);
    expect(runs).toHaveLength(1);
  });

  it('writes progress to the job row, at most every progress interval, and last', async () => {
    const { handler, runs } = steppedHandler();
    const { job } = await requestSync(queue, 'con_a');
    start(handler);
    await timers.advance(0);
    const run = runs[0]!;
    const at = (n: number) => ({
      types: { Patient: { status: 'running', resources: n, pages: n } },
    });

    run.context.progress(at(1)); // the first report is written at once
    await timers.advance(0);
    expect((await queue.get(job.id))?.progress).toEqual(at(1));
    await timers.advance(100);
    run.context.progress(at(2));
    run.context.progress(at(3)); // within the interval: only the latest is kept
    await timers.advance(0);
    expect((await queue.get(job.id))?.progress).toEqual(at(1));
    await timers.advance(400);
    expect((await queue.get(job.id))?.progress).toEqual(at(3));

    run.context.progress(at(4)); // pending when the run ends: written before completion
    run.resolve({});
    await timers.advance(0);
    expect(await queue.get(job.id)).toMatchObject({ status: 'succeeded', progress: at(4) });
  });

  it('keeps its lease with heartbeats through a long run', async () => {
    const { handler, runs } = steppedHandler();
    const { job } = await requestSync(queue, 'con_a');
    start(handler);
    await timers.advance(0);
    for (let i = 0; i < 6; i++) {
      await timers.advance(LEASE / 2);
      expect(await queue.claim('intruder')).toBeUndefined();
    }
    expect((await queue.get(job.id))?.leaseUntil).toBeGreaterThan(clock.now());
    runs[0]?.resolve({});
    await timers.advance(0);
    expect((await queue.get(job.id))?.status).toBe('succeeded');
  });

  it('retries a failed run after the backoff, then succeeds', async () => {
    const { handler, runs } = steppedHandler();
    const { job } = await requestSync(queue, 'con_a');
    start(handler);
    await timers.advance(0);
    runs[0]?.reject(new BridgeError('upstream_error', 'the EHR answered 503'));
    await timers.advance(0);
    expect(await queue.get(job.id)).toMatchObject({
      status: 'queued',
      attempts: 1,
      lastError: 'the EHR answered 503',
      runAt: clock.now() + 5_000,
    });
    expect(outcomes[0]).toMatchObject({ status: 'failed', retrying: true });
    await timers.advance(4_000);
    expect(runs).toHaveLength(1);
    await timers.advance(1_000);
    expect(runs).toHaveLength(2);
    expect(runs[1]?.job.attempts).toBe(2);
    runs[1]?.resolve({});
    await timers.advance(0);
    expect((await queue.get(job.id))?.status).toBe('succeeded');
  });

  it('fails at once when a retry cannot help, with the message kept and no secret', async () => {
    const { handler, runs } = steppedHandler();
    const { job } = await requestSync(queue, 'con_a');
    start(handler);
    await timers.advance(0);
    runs[0]?.reject(new BridgeError('revoked', 'connection con_a is revoked'));
    await timers.advance(0);
    expect(await queue.get(job.id)).toMatchObject({
      status: 'failed',
      lastError: 'connection con_a is revoked',
    });

    const second = await requestSync(queue, 'con_b');
    await timers.advance(1_000);
    // A foreign error may quote a URL with a token in it: only its class is kept.
    runs[1]?.reject(new TypeError('fetch https://x/?access_token=SECRET failed'));
    await timers.advance(0);
    const row = await queue.get(second.job.id);
    expect(row?.lastError).not.toContain('SECRET');
    expect(row?.lastError).toContain('TypeError');
  });

  it('close() stops the running job at a checkpoint and gives it back uncounted', async () => {
    const { handler, runs } = steppedHandler();
    const { job } = await requestSync(queue, 'con_a');
    start(handler);
    await timers.advance(0);
    expect(runs[0]?.context.signal.aborted).toBe(false);
    await worker?.close();
    expect(runs[0]?.context.signal.aborted).toBe(true);
    expect(await queue.get(job.id)).toMatchObject({
      status: 'queued',
      attempts: 0,
      leaseOwner: null,
    });
    expect(outcomes.map((o) => o.status)).toEqual(['released']);
    // A new worker (the next process) takes it straight away.
    const next = steppedHandler();
    start(next.handler);
    await timers.advance(0);
    expect(next.runs[0]?.job.id).toBe(job.id);
  });

  it('runs up to `concurrency` jobs at once', async () => {
    const { handler, runs } = steppedHandler();
    for (const c of ['con_a', 'con_b', 'con_c']) await requestSync(queue, c);
    start(handler, 2);
    await timers.advance(0);
    expect(runs).toHaveLength(2);
    runs[0]?.resolve({});
    await timers.advance(0);
    expect(runs).toHaveLength(3);
  });

  it('the sync handler passes mode, signal, progress and the job as run id to the engine', async () => {
    const calls: Array<{ connectionId: string; mode?: string; runId?: string }> = [];
    const engine: SyncRunner = {
      async run(connectionId, { mode, runId, onProgress, signal } = {}) {
        calls.push({ connectionId, ...(mode ? { mode } : {}), ...(runId ? { runId } : {}) });
        expect(signal).toBeInstanceOf(AbortSignal);
        const types = { Patient: { status: 'done' as const, resources: 1, pages: 1 } };
        const progress: SyncProgress = {
          runId: runId ?? '',
          connectionId,
          mode: 'full',
          types,
          startedAt: 0,
        };
        onProgress?.(progress);
        return {
          runId: runId ?? '',
          connectionId,
          status: 'completed',
          outcome: 'succeeded',
          mode: 'full',
          requestedMode: 'full',
          startedAt: 0,
          finishedAt: 1,
          types,
          totals: {
            resources: 1,
            inserted: 1,
            updated: 0,
            unchanged: 0,
            deleted: 0,
            pages: 1,
            calls: 1,
            referencesRead: 0,
            referencesSkipped: 0,
          },
          skipped: [],
          notes: [],
          retrying: false,
        };
      },
      abandon: async () => {},
    };
    const { job } = await requestSync(queue, 'con_a', { mode: 'full' });
    start(syncJobHandler(engine));
    await timers.advance(0);
    expect(calls).toEqual([{ connectionId: 'con_a', mode: 'full', runId: job.id }]);
    expect(await queue.get(job.id)).toMatchObject({
      status: 'succeeded',
      result: { status: 'completed', totals: { resources: 1 } },
      progress: { types: { Patient: { status: 'done', resources: 1, pages: 1 } } },
    });
  });
});
