// Jobs: the queue port, its in-process adapter, the worker, the sync job and its schedule.
import type { Clock } from '../common/clock.ts';
import type { Config } from '../config/schema.ts';
import type { JobRepository } from '../store/port.ts';
import type { JobQueue } from './port.ts';
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

/** The queue the configuration asks for (the in-process one; BullMQ joins with scale-out). */
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
