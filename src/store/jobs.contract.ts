// The jobs part of the store contract (run by storeContract in contract.ts): every adapter's
// JobRepository must pass it.
import { beforeEach, describe, expect, it } from 'vitest';
import type { JobRecord, Store } from './port.ts';

const T0 = Date.UTC(2026, 0, 1);
const LEASE = 30_000;

export function job(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id: 'job_1',
    kind: 'sync',
    key: 'sync:con_1',
    connectionId: 'con_1',
    payload: { mode: 'auto' },
    status: 'queued',
    attempts: 0,
    maxAttempts: 3,
    runAt: T0,
    leaseOwner: null,
    leaseUntil: null,
    progress: null,
    result: null,
    lastError: null,
    createdAt: T0,
    updatedAt: T0,
    startedAt: null,
    finishedAt: null,
    ...overrides,
  };
}

/** Runs inside storeContract, on the store its beforeEach opened. */
export function jobsContract(current: () => Pick<Store, 'jobs'>): void {
  describe('jobs', () => {
    let store: Pick<Store, 'jobs'>;
    beforeEach(() => {
      store = current();
    });

    const claim = (owner: string, now: number, extra: { jobId?: string; kinds?: string[] } = {}) =>
      store.jobs.claim({ owner, now, leaseUntil: now + LEASE, ...extra });

    it('round-trips a job', async () => {
      const record = job({ payload: { mode: 'full', nested: { a: [1, 2] } } });
      expect(await store.jobs.insertUnique(record)).toEqual({ job: record, created: true });
      expect(await store.jobs.get('job_1')).toEqual(record);
      expect(await store.jobs.get('job_x')).toBeUndefined();
    });

    it('keeps one queued or running job per key, returning the active one', async () => {
      await store.jobs.insertUnique(job());
      const second = await store.jobs.insertUnique(job({ id: 'job_2', createdAt: T0 + 1 }));
      expect(second.created).toBe(false);
      expect(second.job.id).toBe('job_1');
      await claim('w1', T0);
      const third = await store.jobs.insertUnique(job({ id: 'job_3' }));
      expect(third).toMatchObject({ created: false, job: { id: 'job_1', status: 'running' } });
      // Another key, or no key, is not limited.
      expect((await store.jobs.insertUnique(job({ id: 'job_4', key: 'sync:con_2' }))).created).toBe(
        true,
      );
      expect((await store.jobs.insertUnique(job({ id: 'job_5', key: null }))).created).toBe(true);
      expect((await store.jobs.insertUnique(job({ id: 'job_6', key: null }))).created).toBe(true);
    });

    it('lets a new job take the key once the active one ended', async () => {
      await store.jobs.insertUnique(job());
      await claim('w1', T0);
      expect(await store.jobs.finish('job_1', 'w1', { status: 'succeeded', now: T0 + 5 })).toBe(
        true,
      );
      expect((await store.jobs.insertUnique(job({ id: 'job_2' }))).created).toBe(true);
    });

    it('an earlier request moves a queued job forward and replaces its payload', async () => {
      await store.jobs.insertUnique(job({ runAt: T0 + 60_000 }));
      const { job: moved } = await store.jobs.insertUnique(
        job({ id: 'job_2', runAt: T0, payload: { mode: 'full' }, updatedAt: T0 + 1 }),
      );
      expect(moved).toMatchObject({ id: 'job_1', runAt: T0, payload: { mode: 'full' } });
      // A later runAt never postpones it.
      const { job: kept } = await store.jobs.insertUnique(job({ id: 'job_3', runAt: T0 + 99 }));
      expect(kept.runAt).toBe(T0);
    });

    it('claims due jobs oldest first, with a lease and a counted attempt', async () => {
      await store.jobs.insertUnique(job({ id: 'job_a', key: 'a', runAt: T0 + 10 }));
      await store.jobs.insertUnique(job({ id: 'job_b', key: 'b', runAt: T0 }));
      await store.jobs.insertUnique(job({ id: 'job_c', key: 'c', runAt: T0 + 1_000 }));
      expect(await claim('w1', T0 - 1)).toBeUndefined();
      const first = await claim('w1', T0 + 10);
      expect(first).toMatchObject({
        id: 'job_b',
        status: 'running',
        leaseOwner: 'w1',
        leaseUntil: T0 + 10 + LEASE,
        attempts: 1,
        startedAt: T0 + 10,
      });
      expect((await claim('w2', T0 + 10))?.id).toBe('job_a');
      expect(await claim('w3', T0 + 10)).toBeUndefined();
    });

    it('claims only the asked job or kinds', async () => {
      await store.jobs.insertUnique(job({ id: 'job_a', key: 'a' }));
      await store.jobs.insertUnique(job({ id: 'job_b', key: 'b', kind: 'other' }));
      expect((await claim('w1', T0, { jobId: 'job_b' }))?.id).toBe('job_b');
      expect(await claim('w1', T0, { kinds: ['other'] })).toBeUndefined();
      expect((await claim('w1', T0, { kinds: ['sync'] }))?.id).toBe('job_a');
    });

    it('reclaims a running job whose lease lapsed, and only then', async () => {
      await store.jobs.insertUnique(job());
      await claim('dead', T0);
      expect(await claim('w2', T0 + LEASE)).toBeUndefined(); // lapses strictly after leaseUntil
      const again = await claim('w2', T0 + LEASE + 1);
      expect(again).toMatchObject({ id: 'job_1', leaseOwner: 'w2', attempts: 2 });
      // The first owner lost it: its writes no longer land.
      expect(
        await store.jobs.heartbeat('job_1', 'dead', { leaseUntil: T0 + 2 * LEASE, now: T0 + 1 }),
      ).toBe(false);
      expect(await store.jobs.finish('job_1', 'dead', { status: 'succeeded', now: T0 })).toBe(
        false,
      );
    });

    it('fails a lapsed job that used its last attempt instead of claiming it again', async () => {
      await store.jobs.insertUnique(job({ maxAttempts: 1 }));
      await claim('dead', T0);
      expect(await claim('w2', T0 + LEASE + 1)).toBeUndefined();
      expect(await store.jobs.get('job_1')).toMatchObject({
        status: 'failed',
        finishedAt: T0 + LEASE + 1,
        leaseOwner: null,
      });
      expect((await store.jobs.get('job_1'))?.lastError).toMatch(/lease lapsed/);
    });

    it('heartbeats extend the lease and store progress', async () => {
      await store.jobs.insertUnique(job());
      await claim('w1', T0);
      const progress = { types: { Patient: { status: 'done', resources: 1, pages: 1 } } };
      expect(
        await store.jobs.heartbeat('job_1', 'w1', {
          leaseUntil: T0 + 2 * LEASE,
          now: T0 + 5,
          progress,
        }),
      ).toBe(true);
      expect(
        await store.jobs.heartbeat('job_1', 'w1', { leaseUntil: T0 + 3 * LEASE, now: T0 + 6 }),
      ).toBe(true);
      expect(await store.jobs.get('job_1')).toMatchObject({
        leaseUntil: T0 + 3 * LEASE,
        progress,
      });
      expect(await claim('w2', T0 + 2 * LEASE)).toBeUndefined();
    });

    it('finishes with a result or an error', async () => {
      await store.jobs.insertUnique(job());
      await store.jobs.insertUnique(job({ id: 'job_2', key: 'k2' }));
      await claim('w1', T0, { jobId: 'job_1' });
      await claim('w1', T0, { jobId: 'job_2' });
      await store.jobs.finish('job_1', 'w1', {
        status: 'succeeded',
        now: T0 + 9,
        result: { resources: 3 },
      });
      await store.jobs.finish('job_2', 'w1', { status: 'failed', now: T0 + 9, error: 'boom' });
      expect(await store.jobs.get('job_1')).toMatchObject({
        status: 'succeeded',
        result: { resources: 3 },
        finishedAt: T0 + 9,
        leaseOwner: null,
        leaseUntil: null,
      });
      expect(await store.jobs.get('job_2')).toMatchObject({ status: 'failed', lastError: 'boom' });
    });

    it('requeues for a retry, or refunds the attempt of an interrupted run', async () => {
      await store.jobs.insertUnique(job());
      await claim('w1', T0);
      expect(
        await store.jobs.requeue('job_1', 'w1', { runAt: T0 + 500, now: T0 + 1, error: 'e1' }),
      ).toBe(true);
      expect(await store.jobs.get('job_1')).toMatchObject({
        status: 'queued',
        runAt: T0 + 500,
        attempts: 1,
        lastError: 'e1',
        leaseOwner: null,
      });
      expect(await claim('w1', T0 + 499)).toBeUndefined();
      await claim('w1', T0 + 500);
      await store.jobs.requeue('job_1', 'w1', {
        runAt: T0 + 600,
        now: T0 + 600,
        refundAttempt: true,
      });
      expect(await store.jobs.get('job_1')).toMatchObject({ attempts: 1, lastError: 'e1' });
      expect(await store.jobs.requeue('job_1', 'w1', { runAt: T0, now: T0 })).toBe(false);
    });

    it('cancels a queued job only', async () => {
      await store.jobs.insertUnique(job());
      expect(await store.jobs.cancel('job_1', T0 + 1)).toBe(true);
      expect(await store.jobs.cancel('job_1', T0 + 2)).toBe(false);
      expect(await store.jobs.get('job_1')).toMatchObject({
        status: 'cancelled',
        finishedAt: T0 + 1,
      });
      expect((await store.jobs.insertUnique(job({ id: 'job_2' }))).created).toBe(true);
    });

    it('lists newest first, filtered by kind, connection and status', async () => {
      await store.jobs.insertUnique(job({ id: 'job_1', key: null }));
      await store.jobs.insertUnique(job({ id: 'job_2', key: null, createdAt: T0 + 1 }));
      await store.jobs.insertUnique(
        job({ id: 'job_3', key: null, createdAt: T0 + 2, connectionId: 'con_2' }),
      );
      await store.jobs.insertUnique(job({ id: 'job_4', key: null, createdAt: T0 + 3, kind: 'x' }));
      await claim('w1', T0, { jobId: 'job_1' });
      const ids = (rows: JobRecord[]) => rows.map((r) => r.id);
      expect(ids(await store.jobs.list({ limit: 10 }))).toEqual([
        'job_4',
        'job_3',
        'job_2',
        'job_1',
      ]);
      expect(ids(await store.jobs.list({ kind: 'sync', connectionId: 'con_1', limit: 1 }))).toEqual(
        ['job_2'],
      );
      expect(ids(await store.jobs.list({ status: ['running'], limit: 10 }))).toEqual(['job_1']);
    });
  });
}
