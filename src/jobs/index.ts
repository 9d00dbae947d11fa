// Jobs: the queue port, its in-process adapter, the worker, the sync job and its schedule.
import type { Clock } from '../common/clock.ts';
import type { Config } from '../config/schema.ts';
import type { JobRepository } from '../store/port.ts';
import type { JobQueue } from './port.ts';
import { openRedisJobs } from './redis/index.ts';
import { createStoreJobQueue } from './store-queue.ts';

export type { Enqueued, EnqueueRequest, Job, JobFailure, JobQueue, JobStatus } from './port.ts';
export { type JobContext, type JobHandler, type JobOutcome, runJob } from './runner.ts';
export { createSyncSchedule, type SyncSchedule } from './schedule.ts';
export { createStoreJobQueue } from './store-queue.ts';
export {
  latestSync,
  requestSync,
  SYNC_JOB,
  type SyncMode,
  syncJobHandler,
  syncJobKey,
} from './sync-job.ts';
export { createWorker, type Worker, workerOwner } from './worker.ts';

export interface JobBackend {
  queue: JobQueue;
  /** Pings for /readyz: the queue's own dependency when it has one (Redis). */
  checks: Record<string, () => Promise<unknown>>;
  close(): Promise<void>;
}

/**
 * The job queue of a process: on Redis when `redisUrl` is given (processes on several machines
 * share it), else in the store (processes sharing the store share it). The queue logic is the
 * same code on both; only where the rows live differs.
 */
export async function openJobBackend({
  config,
  repo,
  clock,
  redisUrl,
}: {
  config: Config['sync'];
  repo: JobRepository;
  clock: Clock;
  redisUrl?: string | undefined;
}): Promise<JobBackend> {
  if (redisUrl === undefined) {
    return { queue: createJobQueue({ config, repo, clock }), checks: {}, close: async () => {} };
  }
  const redis = await openRedisJobs({ url: redisUrl });
  return {
    queue: createJobQueue({ config, repo: redis.repo, clock }),
    checks: { redis: redis.ping },
    close: redis.close,
  };
}

/** The queue over `repo` (the store's job rows, or Redis's), with the configured leases and retries. */
export function createJobQueue({
  config,
  repo,
  clock,
}: {
  config: Config['sync'];
  repo: JobRepository;
  clock: Clock;
}): JobQueue {
  return createStoreJobQueue({
    repo,
    clock,
    leaseMs: config.leaseMs,
    maxAttempts: config.maxAttempts,
    backoff: { initialMs: config.retryDelayMs, maxMs: 30 * 60_000 },
  });
}
