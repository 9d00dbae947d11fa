// The in-process queue on a real SQLite file: one active sync per connection, leases that lapse
// and are reclaimed, retries with backoff, and jobs that survive closing and reopening the store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import type { JobQueue } from './port.ts';
import { createStoreJobQueue } from './store-queue.ts';
import { isRetryableSyncFailure, latestSync, requestSync, syncJobKey } from './sync-job.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-jobs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const freshPath = () => join(mkdtempSync(join(root, 'q-')), 'store.db');

const LEASE = 10_000;
const BACKOFF = { initialMs: 1_000, maxMs: 5_000 };

describe('store job queue (sqlite file)', () => {
  const stores: Store[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  async function open(path: string, clock: ManualClock): Promise<JobQueue> {
    const store = await openSqliteStore({ path });
    stores.push(store);
    return createStoreJobQueue({
      repo: store.jobs,
      clock,
      leaseMs: LEASE,
      maxAttempts: 3,
      backoff: BACKOFF,
    });
  }

  it('keeps one sync per connection: a second request gets the running one', async () => {
    const clock = new ManualClock();
    const queue = await open(freshPath(), clock);
    const first = await requestSync(queue, 'con_a', { mode: 'full' });
    expect(first.created).toBe(true);
    expect(first.job).toMatchObject({
      kind: 'sync',
      key: syncJobKey('con_a'),
      connectionId: 'con_a',
      payload: { mode: 'full' },
      status: 'queued',
    });
    const claimed = await queue.claim('w1');
    expect(claimed?.id).toBe(first.job.id);
    const second = await requestSync(queue, 'con_a');
    expect(second).toMatchObject({ created: false, job: { id: first.job.id, status: 'running' } });
    // Another connection syncs alongside.
    expect((await requestSync(queue, 'con_b')).created).toBe(true);
    await queue.complete(first.job.id, 'w1', { resources: 1 });
    const third = await requestSync(queue, 'con_a');
    expect(third.created).toBe(true);
    expect((await latestSync(queue, 'con_a'))?.id).toBe(third.job.id);
  });

  it('reclaims a job whose lease lapsed (its process died), not before', async () => {
    const clock = new ManualClock();
    const queue = await open(freshPath(), clock);
    const { job } = await requestSync(queue, 'con_a');
    await queue.claim('dead-process');
    clock.advance(LEASE);
    expect(await queue.claim('w2')).toBeUndefined();
    clock.advance(1);
    const again = await queue.claim('w2');
    expect(again).toMatchObject({ id: job.id, leaseOwner: 'w2', attempts: 2 });
    expect(await queue.heartbeat(job.id, 'dead-process')).toBe(false);
    expect(await queue.heartbeat(job.id, 'w2', { step: 1 })).toBe(true);
    expect((await queue.get(job.id))?.progress).toEqual({ step: 1 });
  });

  it('a job whose runner died on its last attempt fails, and is handed out once to announce', async () => {
    const clock = new ManualClock();
    const path = freshPath();
    const queue = await open(path, clock);
    const other = await open(path, clock); // a second process on the same file
    const { job } = await requestSync(queue, 'con_a');
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect((await queue.claim(`dead-${attempt}`))?.attempts).toBe(attempt);
      clock.advance(LEASE + 1);
    }
    // Another process's claim is what fails it; the failure still waits to be announced.
    expect(await other.claim('w')).toBeUndefined();
    expect(await queue.get(job.id)).toMatchObject({ status: 'failed', attempts: 3 });
    const taken = await queue.takeLapsedFailures();
    expect(taken.map((j) => j.id)).toEqual([job.id]);
    expect(await other.takeLapsedFailures()).toEqual([]);
    expect(await queue.takeLapsedFailures()).toEqual([]);
  });

  it('a heartbeat keeps the lease alive past its first term', async () => {
    const clock = new ManualClock();
    const queue = await open(freshPath(), clock);
    const { job } = await requestSync(queue, 'con_a');
    await queue.claim('w1');
    for (let i = 0; i < 5; i++) {
      clock.advance(LEASE / 2);
      expect(await queue.heartbeat(job.id, 'w1')).toBe(true);
      expect(await queue.claim('w2')).toBeUndefined();
    }
  });

  it('retries a failed run with exponential backoff, then fails it for good', async () => {
    const clock = new ManualClock();
    const queue = await open(freshPath(), clock);
    const { job } = await requestSync(queue, 'con_a');
    const t0 = clock.now();

    await queue.claim('w1');
    const after1 = await queue.fail(job.id, 'w1', { message: 'HTTP 503', retryable: true });
    expect(after1).toMatchObject({ status: 'queued', runAt: t0 + 1_000, lastError: 'HTTP 503' });
    clock.advance(999);
    expect(await queue.claim('w1')).toBeUndefined();
    clock.advance(1);
    expect((await queue.claim('w1'))?.attempts).toBe(2);
    const after2 = await queue.fail(job.id, 'w1', { message: 'HTTP 503', retryable: true });
    expect(after2?.runAt).toBe(clock.now() + 2_000);

    clock.advance(2_000);
    await queue.claim('w1');
    const after3 = await queue.fail(job.id, 'w1', { message: 'still 503', retryable: true });
    expect(after3).toMatchObject({ status: 'failed', attempts: 3, lastError: 'still 503' });
    expect(after3?.finishedAt).toBe(clock.now());
  });

  it('does not retry a failure a retry cannot fix', async () => {
    const clock = new ManualClock();
    const queue = await open(freshPath(), clock);
    const { job } = await requestSync(queue, 'con_a');
    await queue.claim('w1');
    const revoked = new BridgeError('revoked', 'connection con_a is revoked');
    expect(isRetryableSyncFailure(revoked)).toBe(false);
    expect(isRetryableSyncFailure(new BridgeError('upstream_error', 'HTTP 502'))).toBe(true);
    expect(isRetryableSyncFailure(new Error('socket hang up'))).toBe(true);
    const after = await queue.fail(job.id, 'w1', {
      message: revoked.message,
      retryable: isRetryableSyncFailure(revoked),
    });
    expect(after).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('a release gives the job back at once without counting the attempt', async () => {
    const clock = new ManualClock();
    const queue = await open(freshPath(), clock);
    const { job } = await requestSync(queue, 'con_a');
    await queue.claim('w1');
    expect(await queue.release(job.id, 'w1')).toBe(true);
    expect(await queue.get(job.id)).toMatchObject({ status: 'queued', attempts: 0 });
    expect((await queue.claim('w2'))?.attempts).toBe(1);
  });

  it('survives a restart: queued and orphaned running jobs are there after reopening', async () => {
    const clock = new ManualClock();
    const path = freshPath();
    const before = await open(path, clock);
    const running = await requestSync(before, 'con_a');
    await before.claim('process-1');
    await before.heartbeat(running.job.id, 'process-1', { types: { Patient: 'done' } });
    const queued = await requestSync(before, 'con_b', { runAt: clock.now() + 60_000 });
    await stores.pop()?.close(); // the process ends without finishing anything

    const after = await open(path, clock);
    expect(await after.get(queued.job.id)).toMatchObject({ status: 'queued' });
    expect((await requestSync(after, 'con_a')).created).toBe(false);
    expect(await after.claim('process-2')).toBeUndefined(); // lease still held, con_b not due
    clock.advance(LEASE + 1);
    const reclaimed = await after.claim('process-2');
    expect(reclaimed).toMatchObject({
      id: running.job.id,
      attempts: 2,
      progress: { types: { Patient: 'done' } },
    });
    await after.complete(running.job.id, 'process-2');
    clock.advance(60_000);
    expect((await after.claim('process-2'))?.id).toBe(queued.job.id);
  });

  it('an on-demand request moves a scheduled sync forward', async () => {
    const clock = new ManualClock();
    const queue = await open(freshPath(), clock);
    const scheduled = await requestSync(queue, 'con_a', { runAt: clock.now() + 3_600_000 });
    expect(await queue.claim('w1')).toBeUndefined();
    const now = await requestSync(queue, 'con_a', { mode: 'full' });
    expect(now).toMatchObject({
      created: false,
      job: { id: scheduled.job.id, runAt: clock.now(), payload: { mode: 'full' } },
    });
    expect((await queue.claim('w1'))?.id).toBe(scheduled.job.id);
  });
});
