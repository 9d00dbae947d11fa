// The jobs part of the store port (re-exported by port.ts): the rows behind the in-process job
// queue (src/jobs/store-queue.ts). Each method is one atomic step, so several processes on one
// store can share the queue: a claim is a compare-and-set, a lease that lapses is claimable.

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobRecord {
  id: string;
  /** What runs it, e.g. `sync`. */
  kind: string;
  /** At most one queued or running job per key (e.g. `sync:<connection id>`); null = no limit. */
  key: string | null;
  connectionId: string | null;
  payload: Record<string, unknown>;
  status: JobStatus;
  /** Claims so far (a reclaim after a crash counts too). */
  attempts: number;
  maxAttempts: number;
  /** Not claimed before this instant (epoch ms). */
  runAt: number;
  leaseOwner: string | null;
  leaseUntil: number | null;
  /** The latest progress its runner reported (a sync's per-type counts). */
  progress: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface JobClaim {
  owner: string;
  now: number;
  leaseUntil: number;
  /** Only these kinds; all when absent. */
  kinds?: readonly string[];
  /** Only this job (the CLI runs the one it enqueued). */
  jobId?: string;
}

export interface JobFilter {
  kind?: string;
  connectionId?: string;
  status?: readonly JobStatus[];
  limit: number;
}

export interface JobRepository {
  /**
   * Inserts `job`, unless its key already has a queued or running job: then returns that one
   * (`created: false`), moving its runAt forward to `job.runAt` when that is sooner (an on-demand
   * run overtakes a scheduled one). The check and the insert are one atomic step.
   */
  insertUnique(job: JobRecord): Promise<{ job: JobRecord; created: boolean }>;
  /**
   * Takes the oldest due job (queued with runAt <= now, or running with a lease that lapsed
   * before now) for `owner` until `leaseUntil`, counting an attempt; undefined when none.
   * A lapsed job that has used all its attempts is marked failed instead of being claimed.
   */
  claim(claim: JobClaim): Promise<JobRecord | undefined>;
  /** Extends the lease and stores progress (when given) while `owner` still holds it; else false. */
  heartbeat(
    id: string,
    owner: string,
    update: { leaseUntil: number; now: number; progress?: Record<string, unknown> },
  ): Promise<boolean>;
  /** Ends a job `owner` holds: succeeded (result) or failed (error); false when not held. */
  finish(
    id: string,
    owner: string,
    end: {
      status: 'succeeded' | 'failed';
      now: number;
      result?: Record<string, unknown>;
      error?: string;
    },
  ): Promise<boolean>;
  /**
   * Puts a job `owner` holds back in the queue at `runAt` (a retry, or a shutdown that stopped it
   * at a checkpoint). `refundAttempt` uncounts the claim (it was interrupted, not failed).
   */
  requeue(
    id: string,
    owner: string,
    options: { runAt: number; now: number; error?: string; refundAttempt?: boolean },
  ): Promise<boolean>;
  /** Cancels a queued job; false when it is not queued. */
  cancel(id: string, now: number): Promise<boolean>;
  get(id: string): Promise<JobRecord | undefined>;
  /** Newest first (createdAt descending). */
  list(filter: JobFilter): Promise<JobRecord[]>;
  /**
   * Fails lapsed jobs that used their last attempt (as `claim` does) and returns every job so
   * failed that was not returned before: each such failure is handed out exactly once, to
   * whichever process asks first, so that it can be announced.
   */
  takeLapsedFailures(now: number): Promise<JobRecord[]>;
}
