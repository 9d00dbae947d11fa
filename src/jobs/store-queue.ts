// The in-process job queue: the JobQueue port over the store's `jobs` table, so queued work
// survives a restart and a job whose process died is claimed again once its lease lapses.
import { type ExponentialBackoff, exponentialDelay } from '../common/backoff.ts';
import type { Clock } from '../common/clock.ts';
import { randomId } from '../common/random.ts';
import type { JobRepository } from '../store/port.ts';
import type { JobQueue } from './port.ts';

export interface StoreQueueOptions {
  repo: JobRepository;
  clock: Clock;
  /** How long a claim holds without a heartbeat. Runners heartbeat at a third of it. */
  leaseMs?: number;
  maxAttempts?: number;
  /** Retry delays after a failed run. */
  backoff?: ExponentialBackoff;
}

export function createStoreJobQueue({
  repo,
  clock,
  leaseMs = 60_000,
  maxAttempts = 5,
  backoff = { initialMs: 30_000, maxMs: 30 * 60_000 },
}: StoreQueueOptions): JobQueue {
  return {
    leaseMs,
    claimsById: true,
    async enqueue({ kind, key, connectionId, payload = {}, runAt, maxAttempts: max }) {
      const now = clock.now();
      return repo.insertUnique({
        id: randomId('job'),
        kind,
        key: key ?? null,
        connectionId: connectionId ?? null,
        payload,
        status: 'queued',
        attempts: 0,
        maxAttempts: max ?? maxAttempts,
        runAt: runAt ?? now,
        leaseOwner: null,
        leaseUntil: null,
        progress: null,
        result: null,
        lastError: null,
        createdAt: now,
        updatedAt: now,
        startedAt: null,
        finishedAt: null,
      });
    },
    async claim(owner, options = {}) {
      const now = clock.now();
      return repo.claim({ owner, now, leaseUntil: now + leaseMs, ...options });
    },
    async heartbeat(jobId, owner, progress) {
      const now = clock.now();
      return repo.heartbeat(jobId, owner, {
        now,
        leaseUntil: now + leaseMs,
        ...(progress === undefined ? {} : { progress }),
      });
    },
    async complete(jobId, owner, result) {
      return repo.finish(jobId, owner, {
        status: 'succeeded',
        now: clock.now(),
        ...(result === undefined ? {} : { result }),
      });
    },
    async fail(jobId, owner, { message, retryable }) {
      const job = await repo.get(jobId);
      if (!job || job.leaseOwner !== owner) return job;
      const now = clock.now();
      if (retryable && job.attempts < job.maxAttempts) {
        await repo.requeue(jobId, owner, {
          runAt: now + exponentialDelay(job.attempts, backoff),
          now,
          error: message,
        });
      } else {
        await repo.finish(jobId, owner, { status: 'failed', now, error: message });
      }
      return repo.get(jobId);
    },
    async release(jobId, owner) {
      const now = clock.now();
      return repo.requeue(jobId, owner, { runAt: now, now, refundAttempt: true });
    },
    takeLapsedFailures: () => repo.takeLapsedFailures(clock.now()),
    get: (jobId) => repo.get(jobId),
    list: (filter) => repo.list(filter),
  };
}
