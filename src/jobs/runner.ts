// Runs one claimed job: heartbeats that keep its lease, progress written to the job row (at most
// every `progressIntervalMs`, and always last), then complete, fail (retry or not) or release.
// The worker loop and the `sync` command both run jobs through here: one code path.

import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Timers } from '../common/timers.ts';
import type { Job, JobQueue } from './port.ts';

export interface JobContext {
  /** Aborted when the worker shuts down or the lease was lost: stop at the next checkpoint. */
  signal: AbortSignal;
  /** The latest progress; written to the job row, throttled. */
  progress(progress: Record<string, unknown>): void;
  /**
   * Resolves while this run still holds its job's lease for at least two thirds of a term, so a
   * write that follows lands before another process could take the job; otherwise throws (and
   * stops the run). Call it before every write a lapsed run must not make (a sync's pages).
   */
  holdLease(): Promise<void>;
}

export interface JobHandler {
  run(job: Job, context: JobContext): Promise<Record<string, unknown> | undefined>;
  /** Whether a retry might fix `error`; all failures are retryable by default. */
  retryable?(error: unknown): boolean;
  /**
   * A job of this kind failed for good without its runner (it died on the last attempt and the
   * lease lapsed). Called once per such job, by one process.
   */
  onLapsed?(job: Job): Promise<void>;
}

export type JobOutcome =
  | { status: 'succeeded'; job: Job; result: Record<string, unknown> | undefined }
  /** Failed for good, or queued again for a retry (`job.status === 'queued'`). */
  | { status: 'failed'; job: Job | undefined; error: string; retrying: boolean }
  /** Stopped by `signal` at a checkpoint and given back to the queue. */
  | { status: 'released'; job: Job }
  /** Another process took the job (our lease lapsed): nothing of ours was written. */
  | { status: 'lost'; job: Job };

export interface RunJobDeps {
  queue: JobQueue;
  handler: JobHandler;
  owner: string;
  clock: Clock;
  timers: Timers;
  logger?: Logger;
  /** Stops the run at its next checkpoint (shutdown); the job is released, not failed. */
  signal?: AbortSignal;
  /** Progress writes are at least this far apart. */
  progressIntervalMs?: number;
  /** Sees every progress report as it happens (the CLI's live bar). */
  onProgress?(progress: Record<string, unknown>): void;
}

/**
 * Hands the jobs that failed for good without a runner (their process died on the last attempt
 * and the lease lapsed) to their handlers, once each across processes. Every process that claims
 * jobs calls it (the worker loop and the `sync` command alike), so such a failure is announced
 * even where no worker runs.
 */
export async function announceLapsed(
  queue: JobQueue,
  handlers: Readonly<Record<string, JobHandler | undefined>>,
  logger?: Logger,
): Promise<void> {
  for (const job of await queue.takeLapsedFailures()) {
    logger?.warn({ jobId: job.id, kind: job.kind }, 'job failed for good: its lease lapsed');
    await handlers[job.kind]?.onLapsed?.(job).catch((error: unknown) => {
      logger?.error({ jobId: job.id, err: error }, 'announcing a lapsed job failed');
    });
  }
}

/** A failure's message for the job row and the API: a BridgeError's own, else a generic one. */
export function failureMessage(error: unknown): string {
  if (error instanceof BridgeError) return error.message;
  // Unknown errors may quote anything (a URL with a token in it): only their class is kept.
  return `unexpected ${error instanceof Error ? error.name : 'error'} while running the job`;
}

export async function runJob(
  job: Job,
  {
    queue,
    handler,
    owner,
    clock,
    timers,
    logger,
    signal,
    progressIntervalMs = 500,
    onProgress,
  }: RunJobDeps,
): Promise<JobOutcome> {
  const controller = new AbortController();
  let lost = false;
  const stop = () => controller.abort(signal?.reason ?? new Error('the worker is stopping'));
  if (signal?.aborted) stop();
  signal?.addEventListener('abort', stop, { once: true });

  // Row writes (heartbeats with or without progress) go one at a time, in order.
  let writes: Promise<void> = Promise.resolve();
  let pending: Record<string, unknown> | undefined;
  let lastWrite = Number.NEGATIVE_INFINITY;
  let progressTimer: unknown;
  let heartbeatTimer: unknown;
  let finished = false;
  // When the queue last confirmed our lease (the claim, then each heartbeat it accepted).
  let confirmedAt = job.leaseUntil === null ? clock.now() : job.leaseUntil - queue.leaseMs;

  const write = () => {
    writes = writes.then(async () => {
      if (lost) return;
      const progress = pending;
      pending = undefined;
      const sentAt = clock.now();
      lastWrite = sentAt;
      const held = await queue.heartbeat(job.id, owner, progress).then(
        (held) => {
          if (held) confirmedAt = sentAt;
          return held;
        },
        (error: unknown) => {
          // A store hiccup is not a lost lease; the next heartbeat tries again.
          logger?.warn({ jobId: job.id, err: error }, 'job heartbeat failed');
          if (progress && !pending) pending = progress;
          return true;
        },
      );
      if (!held) {
        lost = true;
        controller.abort(new Error('the job lease was lost'));
      }
    });
    return writes;
  };

  const heartbeatEvery = Math.max(10, Math.floor(queue.leaseMs / 3));
  const scheduleHeartbeat = () => {
    heartbeatTimer = timers.setTimeout(() => {
      if (finished) return;
      void write().then(() => {
        if (!finished) scheduleHeartbeat();
      });
    }, heartbeatEvery);
  };
  scheduleHeartbeat();

  const context: JobContext = {
    signal: controller.signal,
    progress(progress) {
      onProgress?.(progress);
      pending = progress;
      if (progressTimer !== undefined || finished) return;
      const wait = lastWrite + progressIntervalMs - clock.now();
      if (wait <= 0) {
        void write();
        return;
      }
      progressTimer = timers.setTimeout(() => {
        progressTimer = undefined;
        if (!finished && pending) void write();
      }, wait);
    },
    async holdLease() {
      // Heartbeats come every third of a term; a late one (a blocked event loop, a paused
      // process, an unreachable queue) is sent now, and without its answer nothing is written.
      const margin = queue.leaseMs / 3;
      if (!lost && clock.now() - confirmedAt < margin) return;
      if (!lost) await write();
      if (lost) throw controller.signal.reason;
      if (clock.now() - confirmedAt >= margin) {
        throw new BridgeError('upstream_error', 'the job queue did not confirm the lease', {
          status: 503,
        });
      }
    },
  };

  const settle = async () => {
    finished = true;
    timers.clearTimeout(heartbeatTimer);
    if (progressTimer !== undefined) timers.clearTimeout(progressTimer);
    signal?.removeEventListener('abort', stop);
    // The last progress is written before the end, so the row never shows a stale picture.
    if (pending) await write();
    await writes;
  };

  let result: Record<string, unknown> | undefined;
  try {
    result = await handler.run(job, context);
  } catch (error) {
    await settle();
    if (lost) return { status: 'lost', job };
    if (signal?.aborted) {
      await queue.release(job.id, owner);
      return { status: 'released', job: (await queue.get(job.id)) ?? job };
    }
    const message = failureMessage(error);
    const retryable = handler.retryable?.(error) ?? true;
    const after = await queue.fail(job.id, owner, { message, retryable });
    logger?.warn({ jobId: job.id, kind: job.kind, error: message, retryable }, 'job failed');
    return {
      status: 'failed',
      job: after,
      error: message,
      retrying: after?.status === 'queued',
    };
  }
  await settle();
  if (lost) return { status: 'lost', job };
  await queue.complete(job.id, owner, result);
  return { status: 'succeeded', job: (await queue.get(job.id)) ?? job, result };
}
