// The `sync` job: one run of the sync engine for one connection, at most one queued or running
// per connection (key `sync:<id>`). Its progress on the job row is the engine's SyncProgress.
import { BridgeError } from '../common/errors.ts';
import type { SyncRunMode } from '../store/port.ts';
import {
  isRetryableSyncFailure,
  type SyncEngine,
  type SyncProgress,
  type SyncResult,
} from '../sync/index.ts';
import type { Enqueued, Job, JobQueue } from './port.ts';
import type { JobHandler } from './runner.ts';

export const SYNC_JOB = 'sync';

export const SYNC_MODES = ['auto', 'full', 'incremental'] as const satisfies readonly SyncRunMode[];
export type SyncMode = SyncRunMode;
export type { SyncProgress };

/** The part of the sync engine a job runs. */
export type SyncRunner = Pick<SyncEngine, 'run' | 'abandon'>;

export const syncJobKey = (connectionId: string): string => `${SYNC_JOB}:${connectionId}`;

/** Asks for a sync of `connectionId`; while one is queued or running, that one is returned. */
export function requestSync(
  queue: JobQueue,
  connectionId: string,
  { mode = 'auto', runAt }: { mode?: SyncMode; runAt?: number } = {},
): Promise<Enqueued> {
  return queue.enqueue({
    kind: SYNC_JOB,
    key: syncJobKey(connectionId),
    connectionId,
    payload: { mode },
    ...(runAt === undefined ? {} : { runAt }),
  });
}

/** A connection's most recent sync job, if it ever had one. */
export async function latestSync(queue: JobQueue, connectionId: string): Promise<Job | undefined> {
  const [job] = await queue.list({ kind: SYNC_JOB, connectionId, limit: 1 });
  return job;
}

export function modeOf(job: Job): SyncMode {
  const mode = job.payload.mode;
  return SYNC_MODES.includes(mode as SyncMode) ? (mode as SyncMode) : 'auto';
}

export { isRetryableSyncFailure };

/** The partial run's types that did not complete, as the job's error (the retry resumes them). */
function partialFailure(result: SyncResult): BridgeError {
  return new BridgeError(
    'upstream_error',
    `partial: ${result.notes.join('; ')}; the next attempt resumes what did not complete`,
    { details: { outcome: 'partial' } },
  );
}

export function syncJobHandler(engine: SyncRunner): JobHandler {
  return {
    async run(job, { signal, progress, holdLease }) {
      if (!job.connectionId)
        throw new BridgeError('invalid_request', 'a sync job needs a connection');
      const result = await engine.run(job.connectionId, {
        mode: modeOf(job),
        signal,
        onProgress: (p) => progress(p as unknown as Record<string, unknown>),
        // The job names the run: a retry or a reclaimed job (its process died) resumes it.
        runId: job.id,
        attempt: { number: job.attempts, max: job.maxAttempts },
        // A run whose lease lapsed (another process took the job) must not write its pages.
        beforeWrite: holdLease,
      });
      // A partial run with types another attempt may complete: the job retries, the run resumes.
      if (result.retrying) throw partialFailure(result);
      return result as unknown as Record<string, unknown>;
    },
    retryable: isRetryableSyncFailure,
    async onLapsed(job) {
      if (!job.connectionId) return;
      await engine.abandon(job.connectionId, job.id, {
        reason: 'lease_exhausted',
        error: job.lastError ?? 'its runner stopped without finishing on the last attempt',
        attempts: job.attempts,
      });
    },
  };
}
