// The job queue port: what the worker, the API and the CLI ask of a queue. Small on purpose: the
// store's queue (store-queue.ts, its rows in the store) and BullMQ's (bullmq/, on Redis) both fit.
import type { JobRecord, JobStatus } from '../store/port.ts';

export type Job = JobRecord;
export type { JobStatus };

export interface EnqueueRequest {
  kind: string;
  /** One queued or running job per key at a time; a second enqueue returns the active one. */
  key?: string;
  connectionId?: string;
  payload?: Record<string, unknown>;
  /** Not before this instant (epoch ms); now when absent. */
  runAt?: number;
  /** The queue's default when absent. */
  maxAttempts?: number;
}

export interface Enqueued {
  job: Job;
  /** False when the key already had an active job, which is returned instead. */
  created: boolean;
}

/** How a run failed, as far as the queue cares. */
export interface JobFailure {
  message: string;
  /** False for failures a retry cannot fix (revoked consent, unknown connection). */
  retryable: boolean;
}

export interface JobQueue {
  enqueue(request: EnqueueRequest): Promise<Enqueued>;
  /**
   * Takes a due job for `owner` under a lease; undefined when none is due. `jobId` names the job
   * where `claimsById` holds; elsewhere such a claim takes nothing.
   */
  claim(
    owner: string,
    options?: { kinds?: readonly string[]; jobId?: string },
  ): Promise<Job | undefined>;
  /** Extends the lease and stores progress; false when `owner` lost the job (stop working on it). */
  heartbeat(jobId: string, owner: string, progress?: Record<string, unknown>): Promise<boolean>;
  complete(jobId: string, owner: string, result?: Record<string, unknown>): Promise<boolean>;
  /**
   * Records a failed run: queued again after a backoff while attempts remain and the failure is
   * retryable, else failed. Returns the job as it now is.
   */
  fail(jobId: string, owner: string, failure: JobFailure): Promise<Job | undefined>;
  /** Gives a job back uncounted (the runner stopped at a checkpoint to shut down). */
  release(jobId: string, owner: string): Promise<boolean>;
  get(jobId: string): Promise<Job | undefined>;
  /** Newest first. */
  list(filter: {
    kind?: string;
    connectionId?: string;
    status?: readonly JobStatus[];
    limit: number;
  }): Promise<Job[]>;
  /**
   * Jobs failed for good because their runner died on the last attempt (the lease lapsed), each
   * returned once across every process sharing the queue, so its failure is announced once.
   */
  takeLapsedFailures(): Promise<Job[]>;
  /** How long a claim holds before another process may take the job. */
  readonly leaseMs: number;
  /**
   * Whether `claim` can take a named job. False on BullMQ, which hands out jobs in queue order
   * only: there the workers run every job, and the process that queued one follows it.
   */
  readonly claimsById: boolean;
  /** How many worker processes take jobs of `kind` now, where the queue can tell (BullMQ). */
  workers?(kind: string): Promise<number>;
}
