// Jobs: the queue port, its adapters (the store's queue, BullMQ's), the worker, the sync job and
// its schedule.
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { Config } from '../config/schema.ts';
import type { JobRepository } from '../store/port.ts';
import { DEFAULT_BULLMQ_PREFIX, openBullmqJobs } from './bullmq/index.ts';
import type { JobQueue } from './port.ts';
import { createStoreJobQueue } from './store-queue.ts';
import { SYNC_JOB } from './sync-job.ts';

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
 * The job queue of a process: on BullMQ (Redis) when `redisUrl` is given (processes on several
 * machines share it), else in the store (processes sharing the store share it).
 */
export async function openJobBackend({
  config,
  repo,
  clock,
  redisUrl,
  logger,
}: {
  config: Config['sync'];
  repo: JobRepository;
  clock: Clock;
  redisUrl?: string | undefined;
  logger?: Logger;
}): Promise<JobBackend> {
  if (redisUrl === undefined) {
    return { queue: createJobQueue({ config, repo, clock }), checks: {}, close: async () => {} };
  }
  const bullmq = await openBullmqJobs({
    url: redisUrl,
    prefix: DEFAULT_BULLMQ_PREFIX,
    kinds: [SYNC_JOB],
    clock,
    leaseMs: config.leaseMs,
    maxAttempts: config.maxAttempts,
    backoff: { initialMs: config.retryDelayMs, maxMs: 30 * 60_000 },
    ...(logger ? { logger } : {}),
  });
  return { queue: bullmq.queue, checks: { redis: bullmq.ping }, close: bullmq.close };
}

/** The queue over the store's job rows, with the configured leases and retries. */
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
