// The worker loop: claims due jobs of the kinds it has handlers for, runs up to `concurrency` at
// once, polls when idle. `close()` aborts the running jobs, which stop at a checkpoint and go
// back to the queue, and waits for them.
import { hostname } from 'node:os';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { randomToken } from '../common/random.ts';
import { realTimers, type Timers } from '../common/timers.ts';
import type { JobQueue } from './port.ts';
import { announceLapsed, type JobHandler, type JobOutcome, runJob } from './runner.ts';

export interface WorkerDeps {
  queue: JobQueue;
  handlers: Record<string, JobHandler>;
  clock: Clock;
  logger: Logger;
  timers?: Timers;
  /** Jobs run at once by this worker. */
  concurrency?: number;
  /** How often an idle worker looks for due jobs. */
  pollIntervalMs?: number;
  progressIntervalMs?: number;
  /** Names this worker's leases; unique per process by default. */
  owner?: string;
  /** Sees each finished run (tests, metrics). */
  onOutcome?(outcome: JobOutcome): void;
}

export interface Worker {
  start(): void;
  /** Looks for due jobs now instead of at the next poll (after an enqueue in this process). */
  wake(): void;
  /** Jobs running now. */
  readonly running: number;
  close(): Promise<void>;
}

/** A lease owner name that tells an operator which process held a job. */
export function workerOwner(): string {
  return `${hostname()}:${process.pid}:${randomToken(6)}`;
}

export function createWorker({
  queue,
  handlers,
  clock,
  logger,
  timers = realTimers,
  concurrency = 1,
  pollIntervalMs = 1000,
  progressIntervalMs,
  owner = workerOwner(),
  onOutcome,
}: WorkerDeps): Worker {
  const kinds = Object.keys(handlers);
  const shutdown = new AbortController();
  const runs = new Set<Promise<void>>();
  let started = false;
  let claiming = false;
  let again = false;
  let pollTimer: unknown;

  const schedulePoll = () => {
    if (shutdown.signal.aborted || pollTimer !== undefined) return;
    pollTimer = timers.setTimeout(() => {
      pollTimer = undefined;
      void fill();
    }, pollIntervalMs);
  };

  /** Claims jobs until the worker is full or none is due. One fill at a time. */
  async function fill(): Promise<void> {
    if (claiming) {
      again = true;
      return;
    }
    claiming = true;
    try {
      do {
        again = false;
        await announceLapsed(queue, handlers, logger);
        while (!shutdown.signal.aborted && runs.size < concurrency) {
          const job = await queue.claim(owner, { kinds });
          if (!job) break;
          const handler = handlers[job.kind];
          if (!handler) break; // unreachable: claims are limited to our kinds
          logger.info({ jobId: job.id, kind: job.kind, attempt: job.attempts }, 'job started');
          const run = runJob(job, {
            queue,
            handler,
            owner,
            clock,
            timers,
            logger,
            signal: shutdown.signal,
            ...(progressIntervalMs === undefined ? {} : { progressIntervalMs }),
          })
            .then((outcome) => {
              logger.info({ jobId: job.id, kind: job.kind, outcome: outcome.status }, 'job ended');
              onOutcome?.(outcome);
            })
            .catch((error: unknown) => {
              // The store failed while ending the job; its lease lapses and it is claimed again.
              logger.error({ jobId: job.id, err: error }, 'job runner failed');
            })
            .finally(() => {
              runs.delete(run);
              if (!shutdown.signal.aborted) void fill();
            });
          runs.add(run);
        }
      } while (again && !shutdown.signal.aborted);
    } catch (error) {
      logger.error({ err: error }, 'job claim failed');
    } finally {
      claiming = false;
      schedulePoll();
    }
  }

  return {
    start() {
      if (started) return;
      started = true;
      void fill();
    },
    wake() {
      if (!started || shutdown.signal.aborted) return;
      if (pollTimer !== undefined) {
        timers.clearTimeout(pollTimer);
        pollTimer = undefined;
      }
      void fill();
    },
    get running() {
      return runs.size;
    },
    async close() {
      shutdown.abort(new Error('the worker is stopping'));
      if (pollTimer !== undefined) timers.clearTimeout(pollTimer);
      pollTimer = undefined;
      while (claiming || runs.size > 0) {
        await Promise.allSettled([...runs]);
        if (claiming) await new Promise((resolve) => setImmediate(resolve));
      }
    },
  };
}
