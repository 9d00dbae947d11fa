// A run's writes need its lease: a paused runner whose lease lapsed, and whose job another process
// took, writes nothing when it wakes; a late heartbeat is sent before the write, not skipped.
// Run on both queue backends (the store's SQLite file and Redis), driven by a ManualClock.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { ManualTimers } from '../common/timers.ts';
import type { JobRepository } from '../store/port-jobs.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import type { JobQueue } from './port.ts';
import { openTestRedis } from './redis/redis.test-helper.ts';
import { createRedisJobRepository } from './redis/repository.ts';
import { type JobOutcome, runJob } from './runner.ts';
import { createStoreJobQueue } from './store-queue.ts';
import { requestSync } from './sync-job.ts';

const LEASE = 9_000;
const root = mkdtempSync(join(tmpdir(), 'fhirbridge-lease-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const backends: Record<string, () => Promise<{ repo: JobRepository; close(): Promise<void> }>> = {
  sqlite: async () => {
    const store = await openSqliteStore({ path: join(mkdtempSync(join(root, 's-')), 'db') });
    return { repo: store.jobs, close: () => store.close() };
  },
  redis: async () => {
    const redis = openTestRedis();
    return {
      repo: createRedisJobRepository({ redis: redis.redis, prefix: redis.prefix }),
      close: () => redis.close(),
    };
  },
};

describe.each(Object.keys(backends))('the lease guard (%s)', (name) => {
  let clock: ManualClock;
  let timers: ManualTimers;
  let queue: JobQueue;
  let close: () => Promise<void>;
  beforeEach(async () => {
    const backend = await (backends[name] as (typeof backends)[string])();
    close = backend.close;
    clock = new ManualClock();
    timers = new ManualTimers(clock);
    queue = createStoreJobQueue({ repo: backend.repo, clock, leaseMs: LEASE });
  });
  afterEach(async () => close());

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
    const other = await queue.claim('other');
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

  it('a runner paused past its lease that nobody took confirms it again and writes', async () => {
    const run = await startRun('paused');
    clock.advance(LEASE + 1);
    run.proceed();
    expect((await run.outcome).status).toBe('succeeded');
    expect(run.written).toEqual(['page 1']);
  });
});
