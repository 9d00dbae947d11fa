// Sees one job through to its end from this process: runs it here whenever it can claim it
// (the same runner the worker uses), otherwise follows the process that holds it through the
// job row, and waits out retry backoffs. The `sync` command is built on it, so a sync started
// from the command line is queued, leased and resumed like any other. On a queue that cannot
// claim a named job (BullMQ) the workers run it and this process only follows; while no worker
// serves the queue it says so, since the job then waits for one.

import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { realTimers, type Timers } from '../common/timers.ts';
import type { Job, JobQueue } from './port.ts';
import { announceLapsed, type JobHandler, type JobOutcome, runJob } from './runner.ts';

export type FollowNotice =
  /** Another process holds the job's lease; its progress is shown from the job row. */
  | { kind: 'elsewhere'; job: Job }
  /** A run failed and the job waits for its retry. */
  | { kind: 'retrying'; job: Job; error: string }
  /** The job is queued for later (a scheduled sync was not moved forward). */
  | { kind: 'waiting'; job: Job }
  /** Only workers run the queue's jobs (BullMQ), and none serves it now: the job waits for one. */
  | { kind: 'no-worker'; job: Job };

export interface FollowDeps {
  queue: JobQueue;
  handler: JobHandler;
  owner: string;
  clock: Clock;
  timers?: Timers;
  logger?: Logger;
  /** Stops here (the job is released if this process runs it). */
  signal?: AbortSignal;
  /** How often the job row is read while another process runs it or a retry is awaited. */
  pollIntervalMs?: number;
  progressIntervalMs?: number;
  onProgress?(progress: Record<string, unknown>): void;
  onNotice?(notice: FollowNotice): void;
}

export type FollowResult =
  | { status: 'succeeded' | 'failed' | 'cancelled'; job: Job }
  /** `signal` stopped it; a job this process ran went back to the queue. */
  | { status: 'stopped'; job: Job };

const TERMINAL = new Set<Job['status']>(['succeeded', 'failed', 'cancelled']);

function sleep(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      timers.clearTimeout(handle);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const handle = timers.setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * When to look again: where this process may take the job, when the holder's lease lapses or a
 * retry falls due (at the latest the next poll); where only workers take it, at the next poll.
 */
function nextLook(queue: JobQueue, job: Job, pollIntervalMs: number, now: number): number {
  if (!queue.claimsById) return pollIntervalMs;
  const until =
    job.status === 'running'
      ? Math.min(pollIntervalMs, Math.max(0, (job.leaseUntil ?? 0) - now + 1))
      : Math.min(pollIntervalMs, Math.max(0, job.runAt - now));
  return Math.max(until, 10);
}

export async function followJob(jobId: string, deps: FollowDeps): Promise<FollowResult> {
  const { queue, owner, timers = realTimers, signal, pollIntervalMs = 500, onNotice } = deps;
  let lastNotice: string | undefined;
  const notice = (n: FollowNotice) => {
    const key = `${n.kind}:${n.job.attempts}:${n.job.leaseOwner ?? ''}`;
    if (key === lastNotice) return;
    lastNotice = key;
    onNotice?.(n);
  };

  const followed = await queue.get(jobId);
  if (!followed) throw new Error(`job ${jobId} is gone`);
  const handlers = { [followed.kind]: deps.handler };

  for (;;) {
    // A job whose runners all died on their last attempt fails at the next look; announce it
    // here too, since a `sync` command may be the only process that ever looks at it again.
    await announceLapsed(queue, handlers, deps.logger);
    const current = await queue.get(jobId);
    if (!current) throw new Error(`job ${jobId} is gone`);
    if (TERMINAL.has(current.status)) {
      // The final picture, also when another process ran it to the end between two looks.
      if (current.progress) deps.onProgress?.(current.progress);
      return { status: current.status as 'succeeded' | 'failed' | 'cancelled', job: current };
    }
    if (signal?.aborted) return { status: 'stopped', job: current };

    const claimed = queue.claimsById ? await queue.claim(owner, { jobId }) : undefined;
    if (claimed) {
      const outcome: JobOutcome = await runJob(claimed, {
        queue,
        handler: deps.handler,
        owner,
        clock: deps.clock,
        timers,
        ...(deps.logger ? { logger: deps.logger } : {}),
        ...(signal ? { signal } : {}),
        ...(deps.progressIntervalMs === undefined
          ? {}
          : { progressIntervalMs: deps.progressIntervalMs }),
        ...(deps.onProgress ? { onProgress: deps.onProgress } : {}),
      });
      if (outcome.status === 'released') return { status: 'stopped', job: outcome.job };
      if (outcome.status === 'failed' && outcome.retrying && outcome.job) {
        notice({ kind: 'retrying', job: outcome.job, error: outcome.error });
      }
      continue; // the row says what happened; a retry or a lost lease goes round again
    }

    if (current.status === 'running') {
      notice({ kind: 'elsewhere', job: current });
      if (current.progress) deps.onProgress?.(current.progress);
    } else if (!queue.claimsById && (await queue.workers?.(current.kind)) === 0) {
      notice({ kind: 'no-worker', job: current });
    } else if (current.attempts > 0) {
      notice({ kind: 'retrying', job: current, error: current.lastError ?? 'failed' });
    } else {
      notice({ kind: 'waiting', job: current });
    }
    await sleep(timers, nextLook(queue, current, pollIntervalMs, deps.clock.now()), signal);
  }
}
