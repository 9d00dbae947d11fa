// The sync API: ask for a sync of a connection (queued as a job, one at a time per connection)
// and read where it stands: the latest job with its per-type progress, the last run that ended
// (how, per type, and why) and the next one scheduled.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { BridgeError } from '../common/errors.ts';
import { parse } from '../common/validate.ts';
import type { Job, JobQueue } from '../jobs/port.ts';
import {
  latestSync,
  modeOf,
  requestSync,
  SYNC_MODES,
  type SyncProgress,
} from '../jobs/sync-job.ts';
import type { ConnectionRecord, Store, SyncRunRecord } from '../store/port.ts';
import { describeTypes, typeOutcomes } from '../sync/index.ts';
import { zodRoute } from './openapi.ts';

export interface SyncRouteDeps {
  jobs: JobQueue;
  vault: { get(id: string): Promise<ConnectionRecord> };
  store: Pick<Store, 'sync'>;
}

const idParams = z.object({
  id: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/, 'is not a connection id'),
});
const syncBody = z
  .object({ mode: z.enum(SYNC_MODES).default('auto') })
  .strict()
  .default({ mode: 'auto' });

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
  const code =
    connection.state === 'revoked' ||
    connection.state === 'expired' ||
    connection.state === 'reauthorization_required'
      ? connection.state
      : 'invalid_state';
  throw new BridgeError(
    code,
    `connection ${connection.id} is ${connection.state}${connection.stateReason ? ` (${connection.stateReason})` : ''}: it cannot sync`,
  );
}

export function registerSyncRoutes(
  app: FastifyInstance,
  { jobs, vault, store }: SyncRouteDeps,
): void {
  const syncSchema = { params: idParams, body: syncBody };
  app.post('/api/connections/:id/sync', zodRoute(syncSchema), async (request, reply) => {
    const { id } = parse(idParams, request.params, 'path');
    const { mode } = parse(syncBody, request.body ?? undefined, 'body');
    assertSyncable(await vault.get(id));
    // A second request while a sync is queued or running gets that one (created: false).
    const { job, created } = await requestSync(jobs, id, { mode });
    return reply.code(202).send({ created, ...viewSync(id, job, await lastEndedRun(store, id)) });
  });

  app.get('/api/connections/:id/sync', zodRoute({ params: idParams }), async (request) => {
    const { id } = parse(idParams, request.params, 'path');
    await vault.get(id); // 404 for an unknown connection
    return viewSync(id, await latestSync(jobs, id), await lastEndedRun(store, id));
  });
}
