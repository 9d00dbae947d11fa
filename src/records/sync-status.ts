// Where a connection's syncs stand, for every face (API, dashboard, client): the latest sync
// job with its per-type progress, the last run that ended (how, per type, and why) and the next
// one scheduled; and asking for a sync, which needs a usable connection.
import type { Enqueued, Job, JobQueue } from '../jobs/port.ts';
import {
  latestSync,
  modeOf,
  requestSync,
  type SyncMode,
  type SyncProgress,
} from '../jobs/sync-job.ts';
import type { ConnectionRecord, Store, SyncRunRecord } from '../store/port.ts';
import { describeTypes, typeOutcomes } from '../sync/index.ts';
import { connectionStateError } from '../vault/state-error.ts';

export interface SyncDeps {
  jobs: JobQueue;
  vault: { get(id: string): Promise<ConnectionRecord> };
  store: Pick<Store, 'sync'>;
}

export interface SyncStatusView {
  connectionId: string;
  /** The latest sync's job status; `never` when the connection was never synced. */
  status: Job['status'] | 'never';
  job: {
    id: string;
    mode: string;
    attempts: number;
    maxAttempts: number;
    createdAt: string;
    /** When it is (or was) due: a scheduled or retried sync waits until then. */
    runAt: string;
    startedAt: string | null;
    finishedAt: string | null;
    /** Why the last attempt failed (never a secret). */
    error: string | null;
  } | null;
  /** Per type: pending, running, done, failed or skipped, with resources and pages so far. */
  progress: {
    mode: string;
    startedAt: string;
    types: SyncProgress['types'];
  } | null;
  /** What the engine reported when the sync completed. */
  result: Record<string, unknown> | null;
  /** The last run that ended (succeeded, partial, failed, nothing_granted or cancelled). */
  lastRun: LastRunView | null;
  /** The sync due next (scheduled, or a retry), while one is queued. */
  next: { jobId: string; runAt: string; mode: string; retry: boolean } | null;
}

export interface LastRunView {
  id: string;
  status: SyncRunRecord['status'];
  outcome: string | null;
  startedAt: string;
  finishedAt: string | null;
  /** Why it failed, for programs (`revoked`, `lease_exhausted`, ...) and for people. */
  reason: string | null;
  error: string | null;
  /** Per type: complete, unsupported, timed_out or failed, with why. */
  types: ReturnType<typeof typeOutcomes>;
  /** One line per type that did not complete or needed a fallback. */
  notes: string[];
  totals: Record<string, unknown> | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function viewRun(run: SyncRunRecord | undefined): LastRunView | null {
  if (!run) return null;
  const totals = run.result?.totals;
  return {
    id: run.id,
    status: run.status,
    outcome: run.outcome ?? null,
    startedAt: new Date(run.startedAt).toISOString(),
    finishedAt: iso(run.finishedAt),
    reason: run.reason,
    error: run.error,
    types: typeOutcomes(run.progress),
    notes: describeTypes(run.progress),
    totals: totals && typeof totals === 'object' ? (totals as Record<string, unknown>) : null,
  };
}

export function viewSync(
  connectionId: string,
  job: Job | undefined,
  lastRun: SyncRunRecord | undefined = undefined,
): SyncStatusView {
  const last = viewRun(lastRun);
  if (!job) {
    return {
      connectionId,
      status: 'never',
      job: null,
      progress: null,
      result: null,
      lastRun: last,
      next: null,
    };
  }
  const progress = job.progress as Partial<SyncProgress> | null;
  return {
    connectionId,
    status: job.status,
    job: {
      id: job.id,
      mode: modeOf(job),
      attempts: job.attempts,
      maxAttempts: job.maxAttempts,
      createdAt: new Date(job.createdAt).toISOString(),
      runAt: new Date(job.runAt).toISOString(),
      startedAt: iso(job.startedAt),
      finishedAt: iso(job.finishedAt),
      error: job.lastError,
    },
    progress:
      progress?.types && typeof progress.startedAt === 'number'
        ? {
            mode: String(progress.mode ?? modeOf(job)),
            startedAt: new Date(progress.startedAt).toISOString(),
            types: progress.types,
          }
        : null,
    result: job.result,
    lastRun: last,
    next:
      job.status === 'queued'
        ? {
            jobId: job.id,
            runAt: new Date(job.runAt).toISOString(),
            mode: modeOf(job),
            retry: job.attempts > 0,
          }
        : null,
  };
}

/** The newest run of the connection that is no longer running. */
async function lastEndedRun(
  store: Pick<Store, 'sync'>,
  connectionId: string,
): Promise<SyncRunRecord | undefined> {
  const runs = await store.sync.listRuns(connectionId, 10);
  return runs.find((r) => r.status !== 'running');
}

/** A sync needs a usable connection: say why not in the terms of its state. */
function assertSyncable(connection: ConnectionRecord): void {
  if (connection.state === 'active') return;
  throw connectionStateError(connection, 'sync');
}

/** The connection's sync status; `not_found` for an unknown connection. */
export async function readSyncStatus(
  { jobs, vault, store }: SyncDeps,
  connectionId: string,
): Promise<SyncStatusView> {
  await vault.get(connectionId);
  return viewSync(
    connectionId,
    await latestSync(jobs, connectionId),
    await lastEndedRun(store, connectionId),
  );
}

/**
 * Queues a sync of an active connection; while one is queued or running, that one is answered
 * (`created: false`), so a second request never starts a second run.
 */
export async function queueSync(
  { jobs, vault }: Pick<SyncDeps, 'jobs' | 'vault'>,
  connectionId: string,
  mode: SyncMode,
): Promise<Enqueued> {
  assertSyncable(await vault.get(connectionId));
  return requestSync(jobs, connectionId, { mode });
}

/** queueSync, answered as the sync's status. */
export async function startSync(
  deps: SyncDeps,
  connectionId: string,
  mode: SyncMode,
): Promise<SyncStatusView & { created: boolean }> {
  const { job, created } = await queueSync(deps, connectionId, mode);
  return { created, ...viewSync(connectionId, job, await lastEndedRun(deps.store, connectionId)) };
}
