// followJob on a ManualClock: it follows a live holder through the job row, takes the job over
// once the holder's lease lapses (its process died), and waits out a retry's backoff.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { ManualTimers } from '../common/timers.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { type FollowDeps, type FollowNotice, followJob } from './follow.ts';
import type { JobQueue } from './port.ts';
import { createStoreJobQueue } from './store-queue.ts';
import { requestSync } from './sync-job.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-follow-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('followJob', () => {
  let store: Store;
  let clock: ManualClock;
  let timers: ManualTimers;
  let queue: JobQueue;
  beforeEach(async () => {
    store = await openSqliteStore({ path: join(mkdtempSync(join(root, 'f-')), 'store.db') });
    clock = new ManualClock();
    timers = new ManualTimers(clock);
    queue = createStoreJobQueue({
      repo: store.jobs,
      clock,
      leaseMs: 6_000,
      backoff: { initialMs: 3_000, maxMs: 3_000 },
    });
  });
  afterEach(async () => {
    await store.close();
  });

  /** Follows the job as the sync command does, on this test's queue, clock and timers. */
  const followAsCli = (jobId: string, deps: Pick<FollowDeps, 'handler'> & Partial<FollowDeps>) =>
    followJob(jobId, { queue, owner: 'cli', clock, timers, ...deps });

  it('follows a live holder, then takes over when its lease lapses', async () => {
    const { job } = await requestSync(queue, 'con_a');
    await queue.claim('server');
    await queue.heartbeat(job.id, 'server', { types: { Patient: 'done' } });
    const notices: FollowNotice[] = [];
    const seen: unknown[] = [];
    let ran = 0;
    const result = followAsCli(job.id, {
      pollIntervalMs: 1_000,
      handler: {
        async run() {
          ran++;
          return { ok: true };
        },
      },
      onNotice: (n) => notices.push(n),
      onProgress: (p) => seen.push(p),
    });
    await timers.advance(0);
    expect(notices.map((n) => n.kind)).toEqual(['elsewhere']);
    expect(seen[0]).toEqual({ types: { Patient: 'done' } });
    await timers.advance(5_000);
    expect(ran).toBe(0); // the server's lease still holds
    await timers.advance(2_000); // no heartbeat came: the server died
    expect((await result).status).toBe('succeeded');
    expect(ran).toBe(1);
    expect(await queue.get(job.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('waits out a retry backoff and runs again', async () => {
    const { job } = await requestSync(queue, 'con_a');
    const notices: FollowNotice[] = [];
    let runs = 0;
    const result = followAsCli(job.id, {
      handler: {
        async run() {
          runs++;
          if (runs === 1) throw new BridgeError('upstream_error', 'HTTP 503');
          return {};
        },
      },
      onNotice: (n) => notices.push(n),
    });
    await timers.advance(0);
    expect(runs).toBe(1);
    expect(notices[0]).toMatchObject({ kind: 'retrying', error: 'HTTP 503' });
    await timers.advance(2_999);
    expect(runs).toBe(1);
    await timers.advance(1);
    await timers.advance(0);
    expect((await result).status).toBe('succeeded');
    expect(runs).toBe(2);
    expect(notices).toHaveLength(1);
  });

  it('announces a job whose runners all died on their last attempt, once, with no worker', async () => {
    const { job } = await requestSync(queue, 'con_a');
    for (let attempt = 1; attempt <= job.maxAttempts; attempt++) {
      expect(await queue.claim(`killed-${attempt}`)).toBeDefined();
      clock.advance(6_001); // each process was killed holding the lease
    }
    const lapsed: string[] = [];
    const follow = () =>
      followAsCli(job.id, {
        handler: {
          async run() {
            throw new Error('unreachable: the job has no attempt left');
          },
          onLapsed: async (j) => void lapsed.push(j.id),
        },
      });
    const result = await follow();
    expect(result.status).toBe('failed');
    expect(result.job.lastError).toBe(
      'its runner stopped without finishing (lease lapsed) on the last attempt',
    );
    expect(lapsed).toEqual([job.id]);
    await follow(); // a second look at the failed job announces nothing more
    expect(lapsed).toEqual([job.id]);
  });
});

describe('followJob where only workers run jobs (BullMQ)', () => {
  let store: Store;
  let clock: ManualClock;
  let timers: ManualTimers;
  let queue: JobQueue;
  let workers: number;
  /** The same queue, as BullMQ presents it: no named claims, and a count of its workers. */
  let workersOnly: JobQueue;
  beforeEach(async () => {
    store = await openSqliteStore({ path: join(mkdtempSync(join(root, 'w-')), 'store.db') });
    clock = new ManualClock();
    timers = new ManualTimers(clock);
    queue = createStoreJobQueue({ repo: store.jobs, clock, leaseMs: 6_000 });
    workers = 1;
    workersOnly = { ...queue, claimsById: false, workers: async () => workers };
  });
  afterEach(async () => {
    await store.close();
  });

  const follow = (jobId: string, notices: FollowNotice[], seen: unknown[] = []) =>
    followJob(jobId, {
      queue: workersOnly,
      owner: 'cli',
      clock,
      timers,
      pollIntervalMs: 1_000,
      handler: {
        async run() {
          throw new Error('unreachable: the workers run it');
        },
      },
      onNotice: (n) => notices.push(n),
      onProgress: (p) => seen.push(p),
    });

  it("follows a worker's run to its end without running it here", async () => {
    const { job } = await requestSync(queue, 'con_a');
    const notices: FollowNotice[] = [];
    const seen: unknown[] = [];
    const result = follow(job.id, notices, seen);
    await timers.advance(0);
    expect(notices.map((n) => n.kind)).toEqual(['waiting']);
    expect(await queue.get(job.id)).toMatchObject({ status: 'queued', attempts: 0 });
    await queue.claim('worker');
    await queue.heartbeat(job.id, 'worker', { types: { Patient: 'done' } });
    await timers.advance(1_000);
    expect(notices.map((n) => n.kind)).toEqual(['waiting', 'elsewhere']);
    expect(seen).toEqual([{ types: { Patient: 'done' } }]);
    await queue.complete(job.id, 'worker', { resources: 1 });
    await timers.advance(1_000);
    expect(await result).toMatchObject({ status: 'succeeded', job: { attempts: 1 } });
  });

  it('says so while no worker serves the queue, and follows the run once one does', async () => {
    workers = 0;
    const { job } = await requestSync(queue, 'con_a');
    const notices: FollowNotice[] = [];
    const result = follow(job.id, notices);
    await timers.advance(0);
    await timers.advance(1_000);
    expect(notices.map((n) => n.kind)).toEqual(['no-worker']);
    workers = 1;
    await queue.claim('worker');
    await queue.complete(job.id, 'worker', {});
    await timers.advance(1_000);
    expect((await result).status).toBe('succeeded');
  });
});
