// How a run ends, recorded and announced: `completeRun` for a `succeeded` or `partial` run
// (`sync.completed`, or `sync.retrying` when its job will try the unfinished types again),
// `failRun` for one that something stopped (`sync.retrying` or the one final `sync.failed`),
// `abandonRun` for one whose job died on its last attempt without it.
import type { Clock } from '../common/clock.ts';
import { BridgeError, isBridgeError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { EventLog } from '../events/log.ts';
import type { Store, SyncRunMode, SyncRunOutcome } from '../store/port.ts';
import type { SyncAttempt, SyncResult } from './engine.ts';
import {
  describeTypes,
  hasRetryableTypes,
  isRetryableSyncFailure,
  runOutcome,
  typeOutcomes,
} from './outcomes.ts';
import { type RunState, totalsOf } from './run-state.ts';

export interface RunEndDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  events: EventLog;
}

export async function completeRun(
  { store, clock, events }: RunEndDeps,
  state: RunState,
  requested: SyncRunMode,
  attempt: SyncAttempt | undefined,
): Promise<SyncResult> {
  const outcome = runOutcome(state.types);
  const notes = describeTypes(state.types);
  if (outcome === 'failed') {
    throw new BridgeError(
      'upstream_error',
      `no type of the record completed: ${notes.join('; ')}`,
      {
        status: 502,
      },
    );
  }
  const finishedAt = clock.now();
  const { runId, connectionId, skipped } = state;
  const totals = state.totals;
  const retrying =
    outcome === 'partial' &&
    hasRetryableTypes(state.types) &&
    attempt !== undefined &&
    attempt.number < attempt.max;
  const result: SyncResult = {
    runId,
    connectionId,
    status: 'completed',
    outcome,
    mode: state.mode,
    requestedMode: requested,
    startedAt: state.startedAt,
    finishedAt,
    types: state.types,
    totals,
    skipped,
    notes,
    retrying,
  };
  await store.sync.updateRun(runId, {
    status: 'completed',
    outcome,
    finishedAt,
    progress: state.types,
    result: {
      outcome,
      mode: state.mode,
      requestedMode: requested,
      totals,
      skipped,
      notes,
      announced: retrying ? 'sync.retrying' : 'sync.completed',
    },
    updatedAt: finishedAt,
  });
  const counts = {
    runId,
    outcome,
    mode: state.mode,
    requestedMode: requested,
    resources: totals.resources,
    inserted: totals.inserted,
    updated: totals.updated,
    unchanged: totals.unchanged,
    deleted: totals.deleted,
    calls: totals.calls,
    types: typeOutcomes(state.types),
  };
  if (retrying && attempt) {
    await events.emit('sync.retrying', connectionId, {
      ...counts,
      attempt: attempt.number,
      maxAttempts: attempt.max,
      error: notes.join('; '),
    });
  } else {
    await events.emit('sync.completed', connectionId, {
      ...counts,
      durationMs: finishedAt - state.startedAt,
    });
  }
  state.report();
  return result;
}

/**
 * Marks the run failed (or cancelled) and says so in the outbox: `sync.retrying` when another
 * attempt follows, else `sync.failed` with `final: true`. What was stored stays.
 */
export async function failRun(
  { store, clock, logger, events }: RunEndDeps,
  state: RunState,
  error: unknown,
  cancelled: boolean,
  attempt: SyncAttempt | undefined,
): Promise<void> {
  const finishedAt = clock.now();
  const { runId, connectionId, skipped } = state;
  for (const t of Object.values(state.types)) {
    if (t.status === 'running' || t.status === 'pending')
      t.status = cancelled ? 'pending' : 'failed';
  }
  const nothingGranted = isBridgeError(error) && error.details?.outcome === 'nothing_granted';
  const outcome: SyncRunOutcome = nothingGranted ? 'nothing_granted' : 'failed';
  const reason = cancelled
    ? 'cancelled'
    : nothingGranted
      ? 'nothing_granted'
      : isBridgeError(error)
        ? error.code
        : 'internal';
  const message = error instanceof Error ? error.message : String(error);
  if (!cancelled && !isBridgeError(error)) {
    logger.error({ err: error, connectionId, runId }, 'sync failed unexpectedly');
  }
  const totals = state.totals;
  const retrying =
    attempt !== undefined && attempt.number < attempt.max && isRetryableSyncFailure(error);
  const announced = cancelled ? null : retrying ? 'sync.retrying' : 'sync.failed';
  await store.sync.updateRun(runId, {
    status: cancelled ? 'cancelled' : 'failed',
    outcome: cancelled ? null : outcome,
    finishedAt,
    progress: state.types,
    result: { mode: state.mode, totals, skipped, announced },
    reason,
    error: message,
    updatedAt: finishedAt,
  });
  if (!cancelled) {
    const data = {
      runId,
      outcome,
      reason,
      error: message,
      mode: state.mode,
      resources: totals.resources,
      inserted: totals.inserted,
      updated: totals.updated,
      deleted: totals.deleted,
      calls: totals.calls,
      types: typeOutcomes(state.types),
    };
    // The vault has already emitted `connection.revoked` when that is the cause.
    if (retrying && attempt) {
      await events.emit('sync.retrying', connectionId, {
        ...data,
        attempt: attempt.number,
        maxAttempts: attempt.max,
      });
    } else {
      await events.emit('sync.failed', connectionId, {
        ...data,
        final: true,
        attempts: attempt?.number ?? 1,
      });
    }
  }
  state.report();
}

/**
 * Ends a run whose job failed for good without it (its runner died on the last attempt): marks
 * it failed and sends `sync.failed`, unless the run had ended (and said so) already.
 */
export async function abandonRun(
  { store, clock, events }: RunEndDeps,
  connectionId: string,
  runId: string,
  failure: { reason: string; error: string; attempts: number },
): Promise<void> {
  const run = await store.sync.getRun(runId);
  const now = clock.now();
  // A run whose last attempt ended before its process died has said so already; one that
  // said only `sync.retrying` (its next attempt died before starting) is still owed its end.
  const announced = run?.result?.announced;
  if (announced === 'sync.completed' || announced === 'sync.failed') return;
  if (run) {
    await store.sync.updateRun(runId, {
      status: 'failed',
      outcome: 'failed',
      finishedAt: now,
      reason: failure.reason,
      error: failure.error,
      result: { ...run.result, announced: 'sync.failed' },
      updatedAt: now,
    });
  }
  const totals = totalsOf(run?.progress ?? {});
  await events.emit('sync.failed', connectionId, {
    runId,
    outcome: 'failed',
    reason: failure.reason,
    error: failure.error,
    resources: totals.resources,
    inserted: totals.inserted,
    updated: totals.updated,
    deleted: totals.deleted,
    calls: totals.calls,
    types: typeOutcomes(run?.progress ?? {}),
    final: true,
    attempts: failure.attempts,
  });
}
