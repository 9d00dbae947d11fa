// The job queue on BullMQ against the real Redis: what the port promises (one active job per key,
// an on-demand request moving a scheduled one forward, leases, retries with backoff, release,
// lapsed last attempts announced once across processes, listing by connection). Leases are
// BullMQ locks, which expire on the Redis server's clock: the tests that need a lapse wait for it,
// with a lease of half a second.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Job, JobQueue } from '../port.ts';
import { latestSync, requestSync, syncJobKey } from '../sync-job.ts';
import { openTestBullmq, type TestBullmq } from './redis.test-helper.ts';

const LEASE = 500;
const BACKOFF = { initialMs: 300, maxMs: 300 };

/** Asks until `fn` answers (a lapse is seen by BullMQ's stalled check, on real time). */
async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 5_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error('timed out');
    await sleep(50);
  }
}

describe('BullMQ job queue (real Redis)', () => {
  let redis: TestBullmq;
  let queue: JobQueue;
  beforeEach(() => {
    redis = openTestBullmq({ leaseMs: LEASE });
    queue = redis.open({ maxAttempts: 3, backoff: BACKOFF });
  });
  afterEach(async () => {
    await redis.close();
  });

  it('keeps one queued or running job per key; the key is free again once it ended', async () => {
    const first = await requestSync(queue, 'con_a', { mode: 'full' });
    expect(first).toMatchObject({
      created: true,
      job: {
        kind: 'sync',
        key: syncJobKey('con_a'),
        connectionId: 'con_a',
        payload: { mode: 'full' },
        status: 'queued',
        attempts: 0,
        maxAttempts: 3,
      },
    });
    expect(await requestSync(queue, 'con_a')).toMatchObject({
      created: false,
      job: { id: first.job.id, status: 'queued' },
    });
    const claimed = await queue.claim('w1');
    expect(claimed).toMatchObject({ id: first.job.id, status: 'running', leaseOwner: 'w1' });
    expect(await requestSync(queue, 'con_a')).toMatchObject({
      created: false,
      job: { id: first.job.id, status: 'running' },
    });
    expect((await requestSync(queue, 'con_b')).created).toBe(true);
    expect(await queue.complete(first.job.id, 'w1', { resources: 1 })).toBe(true);
    expect(await queue.get(first.job.id)).toMatchObject({
      status: 'succeeded',
      result: { resources: 1 },
    });
    const third = await requestSync(queue, 'con_a');
    expect(third.created).toBe(true);
    expect((await latestSync(queue, 'con_a'))?.id).toBe(third.job.id);
  });

  it('moves a scheduled job forward to now with the latest mode; a later request never postpones it', async () => {
    const later = Date.now() + 60_000;
    const scheduled = await requestSync(queue, 'con_a', { runAt: later });
    expect(await queue.claim('w1')).toBeUndefined();
    const moved = await requestSync(queue, 'con_a', { mode: 'full' });
    expect(moved).toMatchObject({ created: false, job: { id: scheduled.job.id } });
    expect(moved.job.payload).toEqual({ mode: 'full' });
    expect(moved.job.runAt).toBeLessThanOrEqual(Date.now());
    const kept = await requestSync(queue, 'con_a', { runAt: later });
    expect(kept.job.runAt).toBe(moved.job.runAt);
    expect(await queue.claim('w1')).toMatchObject({
      id: scheduled.job.id,
      payload: { mode: 'full' },
    });
  });

  it('claims under a lease that heartbeats extend; a lapsed lease is lost and the job taken again', async () => {
    const { job } = await requestSync(queue, 'con_a');
    const claimed = await queue.claim('dead');
    expect(claimed).toMatchObject({ id: job.id, attempts: 1, leaseOwner: 'dead' });
    expect(claimed?.leaseUntil).toBeGreaterThan(Date.now());
    expect(await queue.claim('w2')).toBeUndefined();
    expect(await queue.heartbeat(job.id, 'dead', { step: 1 })).toBe(true);
    expect(await queue.heartbeat(job.id, 'w2')).toBe(false);
    expect((await queue.get(job.id))?.progress).toEqual({ step: 1 });

    const other = redis.open();
    const again = await eventually(() => other.claim('w2'));
    expect(again).toMatchObject({ id: job.id, leaseOwner: 'w2', attempts: 2 });
    expect(await queue.heartbeat(job.id, 'dead')).toBe(false);
    expect(await queue.complete(job.id, 'dead')).toBe(false);
    expect(await other.heartbeat(job.id, 'w2')).toBe(true);
  });

  it('a lease that lapsed is lost even when no other process took the job', async () => {
    const { job } = await requestSync(queue, 'con_a');
    await queue.claim('paused');
    await sleep(LEASE + 100);
    expect(await queue.heartbeat(job.id, 'paused')).toBe(false);
  });

  it('takes no named job: on BullMQ the workers run every job', async () => {
    const { job } = await requestSync(queue, 'con_a');
    expect(queue.claimsById).toBe(false);
    expect(await queue.claim('cli', { jobId: job.id })).toBeUndefined();
    expect(await queue.workers?.('sync')).toBe(0);
    expect(await queue.claim('w1')).toMatchObject({ id: job.id });
    expect(await queue.workers?.('sync')).toBe(1);
  });

  it('retries a retryable failure after its backoff until the attempts are used, then fails', async () => {
    const { job } = await requestSync(queue, 'con_a');
    await queue.claim('w1');
    const before = Date.now();
    const retried = await queue.fail(job.id, 'w1', { message: 'EHR down', retryable: true });
    expect(retried).toMatchObject({ status: 'queued', attempts: 1, lastError: 'EHR down' });
    expect(retried?.runAt).toBeGreaterThanOrEqual(before + BACKOFF.initialMs);
    expect(await queue.claim('w1')).toBeUndefined();
    expect(await eventually(() => queue.claim('w1'))).toMatchObject({ id: job.id, attempts: 2 });
    await queue.fail(job.id, 'w1', { message: 'EHR down', retryable: true });
    expect(await eventually(() => queue.claim('w1'))).toMatchObject({ attempts: 3 });
    const failed = await queue.fail(job.id, 'w1', { message: 'still down', retryable: true });
    expect(failed).toMatchObject({ status: 'failed', attempts: 3, lastError: 'still down' });
    expect(failed?.finishedAt).not.toBeNull();
    // The key is free for the next request.
    expect((await requestSync(queue, 'con_a')).created).toBe(true);
  });

  it('fails at once on a failure no retry fixes', async () => {
    const { job } = await requestSync(queue, 'con_a');
    await queue.claim('w1');
    expect(await queue.fail(job.id, 'w2', { message: 'not mine', retryable: false })).toMatchObject(
      { status: 'running', leaseOwner: 'w1' },
    );
    expect(await queue.fail(job.id, 'w1', { message: 'revoked', retryable: false })).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: 'revoked',
    });
  });

  it('a released job goes back to the queue without counting the attempt', async () => {
    const { job } = await requestSync(queue, 'con_a');
    await queue.claim('w1');
    expect(await queue.release(job.id, 'w2')).toBe(false);
    expect(await queue.release(job.id, 'w1')).toBe(true);
    expect(await queue.get(job.id)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(await queue.claim('w2')).toMatchObject({ id: job.id, attempts: 1 });
  });

  it('a job whose runner died on its last attempt fails, announced once across processes', async () => {
    const { job } = await queue.enqueue({ kind: 'sync', key: 'k', maxAttempts: 1 });
    // The process that runs it dies: its stalled check stops with it.
    const dead = redis.open();
    expect(await dead.claim('dead')).toMatchObject({ id: job.id });
    await dead.close();
    const other = redis.open();
    const taken: Job[] = [];
    await eventually(async () => {
      const [a, b] = await Promise.all([queue.takeLapsedFailures(), other.takeLapsedFailures()]);
      taken.push(...a, ...b);
      return taken.length > 0 ? true : undefined;
    });
    expect(taken).toHaveLength(1);
    expect(taken[0]).toMatchObject({
      id: job.id,
      status: 'failed',
      attempts: 1,
      lastError: expect.stringContaining('lease lapsed'),
    });
    await sleep(LEASE);
    expect([...(await queue.takeLapsedFailures()), ...(await other.takeLapsedFailures())]).toEqual(
      [],
    );
    expect(await other.claim('w2')).toBeUndefined();
  });

  it('a claim that takes back a job whose runner died on the last attempt fails it and announces it', async () => {
    const { job } = await queue.enqueue({ kind: 'sync', key: 'k', maxAttempts: 1 });
    await queue.claim('dead');
    const other = redis.open();
    // Only claims look: the stalled check puts the job back, the next claim finds it used up.
    await eventually(async () => {
      expect(await other.claim('w2')).toBeUndefined();
      return (await queue.get(job.id))?.status === 'failed' ? true : undefined;
    });
    expect((await other.takeLapsedFailures()).map((j) => j.id)).toEqual([job.id]);
    expect(await queue.takeLapsedFailures()).toEqual([]);
  });

  it('lists by connection, newest first, by kind and status, without other connections', async () => {
    const a1 = await queue.enqueue({ kind: 'sync', connectionId: 'con_a' });
    await sleep(2);
    const b1 = await queue.enqueue({ kind: 'sync', connectionId: 'con_b' });
    await sleep(2);
    const a2 = await queue.enqueue({ kind: 'other', connectionId: 'con_a' });
    await queue.claim('w1', { kinds: ['sync'] });
    const ids = (jobs: Job[]) => jobs.map((j) => j.id);
    expect(ids(await queue.list({ connectionId: 'con_a', limit: 10 }))).toEqual([
      a2.job.id,
      a1.job.id,
    ]);
    expect(ids(await queue.list({ connectionId: 'con_a', kind: 'sync', limit: 10 }))).toEqual([
      a1.job.id,
    ]);
    expect(ids(await queue.list({ connectionId: 'con_a', status: ['queued'], limit: 10 }))).toEqual(
      [a2.job.id],
    );
    expect(ids(await queue.list({ limit: 2 }))).toEqual([a2.job.id, b1.job.id]);
  });
});
