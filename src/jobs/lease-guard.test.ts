// A run's writes need its lease: a paused runner whose lease lapsed, and whose job another process
// took, writes nothing when it wakes; a late heartbeat is sent before the write, not skipped.
// Run on both queue backends: the store's (a SQLite file, on a ManualClock) and BullMQ's (the real
// Redis, whose locks expire on the server's clock: there a lapse is waited for, with a short lease,
// and a lease that lapsed is lost even when no other process took the job).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { ManualTimers } from '../common/timers.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { openTestBullmq } from './bullmq/redis.test-helper.ts';
import type { Job, JobQueue } from './port.ts';
import { type JobOutcome, runJob } from './runner.ts';
import { createStoreJobQueue } from './store-queue.ts';
import { requestSync } from './sync-job.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-lease-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Backend {
  lease: number;
  /** A queue as another process has it. */
  queue(): JobQueue;
  /** Lets the lease lapse where the queue keeps time (the clock already moved past it). */
  lapse(): Promise<void>;
  /** Takes the job once another process may (on BullMQ, once the stalled check saw the lapse). */
  takeOver(queue: JobQueue, owner: string): Promise<Job | undefined>;
  /** What a runner paused past its lease finds when nobody took the job meanwhile. */
  lapsedUnclaimed: 'succeeded' | 'lost';
  close(): Promise<void>;
}

const backends: Record<string, (clock: ManualClock) => Promise<Backend>> = {
  sqlite: async (clock) => {
    const lease = 9_000;
    const store = await openSqliteStore({ path: join(mkdtempSync(join(root, 's-')), 'db') });
    const queue = createStoreJobQueue({ repo: store.jobs, clock, leaseMs: lease });
    return {
      lease,
      queue: () => queue,
      lapse: async () => {},
      takeOver: (q, owner) => q.claim(owner),
      lapsedUnclaimed: 'succeeded',
      close: () => store.close(),
    };
  },
  bullmq: async (clock) => {
    const lease = 600;
    const redis = openTestBullmq({ clock, leaseMs: lease });
    return {
      lease,
      queue: () => redis.open(),
      lapse: () => sleep(lease + 100),
      async takeOver(q, owner) {
        for (let i = 0; i < 100; i++) {
          const job = await q.claim(owner);
          if (job) return job;
          await sleep(50);
        }
        return undefined;
      },
      lapsedUnclaimed: 'lost',
      close: () => redis.close(),
    };
  },
};

describe.each(Object.keys(backends))('the lease guard (%s)', (name) => {
  let clock: ManualClock;
  let timers: ManualTimers;
  let backend: Backend;
  let queue: JobQueue;
  let LEASE: number;
  beforeEach(async () => {
    // The runner's own clock and timers: no heartbeat fires unless a test moves them.
    clock = new ManualClock(Date.now());
    timers = new ManualTimers(clock);
    backend = await (backends[name] as (typeof backends)[string])(clock);
    queue = backend.queue();
    LEASE = backend.lease;
  });
  afterEach(async () => backend.close());

  /** Starts a run whose handler waits for `proceed`, then guards and "writes" one page. */
  async function startRun(owner: string) {
    const { job } = await requestSync(queue, 'con_a');
    const claimed = await queue.claim(owner);
    if (!claimed) throw new Error('nothing claimed');
    const written: string[] = [];
    let proceed!: () => void;
    const gate = new Promise<void>((resolve) => {
      proceed = resolve;
    });
    const outcome: Promise<JobOutcome> = runJob(claimed, {
      queue,
      owner,
      clock,
      timers,
      handler: {
        async run(_job, ctx) {
          await gate;
          await ctx.holdLease();
          written.push('page 1');
          return { pages: 1 };
        },
      },
    });
    return { job, written, proceed, outcome };
  }

  it('a runner paused past its lease, whose job another process took, writes nothing', async () => {
    const run = await startRun('paused');
    clock.advance(LEASE + 1); // no timer fires: the process was stopped
    await backend.lapse();
    const other = await backend.takeOver(backend.queue(), 'other');
    expect(other).toMatchObject({ id: run.job.id, leaseOwner: 'other', attempts: 2 });
    run.proceed();
    expect((await run.outcome).status).toBe('lost');
    expect(run.written).toEqual([]);
    // The other process's lease is untouched.
    expect(await queue.get(run.job.id)).toMatchObject({ status: 'running', leaseOwner: 'other' });
  });

  it('a runner whose heartbeat is late confirms its lease, then writes', async () => {
    const run = await startRun('slow');
    clock.advance(LEASE / 2); // past a third of the term, timers late
    run.proceed();
    expect(await run.outcome).toMatchObject({ status: 'succeeded', result: { pages: 1 } });
    expect(run.written).toEqual(['page 1']);
  });

  it('a runner paused past its lease that nobody took writes only if the queue still confirms it', async () => {
    const run = await startRun('paused');
    clock.advance(LEASE + 1);
    await backend.lapse();
    run.proceed();
    const outcome = await run.outcome;
    expect(outcome.status).toBe(backend.lapsedUnclaimed);
    expect(run.written).toEqual(backend.lapsedUnclaimed === 'lost' ? [] : ['page 1']);
  });
});
