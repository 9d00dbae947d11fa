// The sync engine: pulls a connection's record into the store. A run plans the searches from
// the granted scopes, resumes or starts one pass per type (passes.ts), runs each type under its
// own deadline with the fallbacks for refused queries (type-pass.ts), page by page with a
// checkpoint in every page's transaction (search-pass.ts), then reads what the record points at
// (reference-reads.ts). One bad type costs that type: the run ends `succeeded`, `partial` (per
// type: complete, unsupported, timed_out or failed, and why) or `failed`; a grant of no resource
// type ends `nothing_granted`. A retry of the run (same id) resumes only what did not end.
// Events: `sync.completed`, `sync.retrying` (another attempt follows), `sync.failed` (once, when
// the run fails for good).

import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { randomId } from '../common/random.ts';
import { realTimers, type Timers } from '../common/timers.ts';
import type { EventLog } from '../events/log.ts';
import type { FhirClient, FhirTarget, VendorName } from '../fhir/index.ts';
import { parseBase } from '../fhir/urls.ts';
import type {
  ConnectionRecord,
  Store,
  SyncRunMode,
  SyncRunOutcome,
  SyncRunRecord,
  TypeProgress,
} from '../store/port.ts';
import { type AttachmentPolicy, DEFAULT_ATTACHMENT_POLICY } from './binary.ts';
import type { Skip } from './extract.ts';
import { preparePasses } from './passes.ts';
import { type PlannedSearch, planSync, type SyncPlan } from './plan.ts';
import { runPool } from './pool.ts';
import { type SyncProfile, syncProfileFor } from './profiles.ts';
import { readReferences } from './reference-reads.ts';
import { loadRefusals } from './refusals.ts';
import { abandonRun, completeRun, failRun } from './run-end.ts';
import {
  type RunContext,
  type RunPassMode,
  RunState,
  type SyncProgress,
  type SyncTotals,
} from './run-state.ts';
import { runType } from './type-pass.ts';

export type { RunPassMode, SyncProgress, SyncTotals } from './run-state.ts';

export interface SyncResult {
  runId: string;
  connectionId: string;
  status: 'completed';
  /** Every type complete, or some not (see `types`: each one's outcome and reason). */
  outcome: Exclude<SyncRunOutcome, 'failed' | 'nothing_granted'>;
  /** The passes the run made. */
  mode: RunPassMode;
  /** The mode asked for (`auto` picks per type). */
  requestedMode: SyncRunMode;
  startedAt: number;
  finishedAt: number;
  types: Record<string, TypeProgress>;
  totals: SyncTotals;
  /** Searches, references and attachments that were not read, with why (at most 100). */
  skipped: Skip[];
  /** One line per type that did not complete or needed a fallback, for people. */
  notes: string[];
  /** A partial run another attempt of the same run will resume (timed-out or failed types). */
  retrying: boolean;
}

/** Which attempt of its job a run is; without it, every run is its own last attempt. */
export interface SyncAttempt {
  number: number;
  max: number;
}

export interface SyncRunOptions {
  mode?: SyncRunMode;
  signal?: AbortSignal;
  onProgress?: (progress: SyncProgress) => void;
  /** The run's id (a job may name it); a run that exists is resumed under the same id. */
  runId?: string;
  attempt?: SyncAttempt;
  /** Awaited before each page of resources is written; a throw stops the run (its job's lease). */
  beforeWrite?: () => Promise<void>;
}

export interface SyncEngineDeps {
  store: Store;
  fhir: FhirClient;
  /** How the FHIR client reaches a connection's practice with its tokens (Runtime.fhirTarget). */
  fhirTarget: (connectionId: string) => Promise<FhirTarget>;
  vault: { get(id: string): Promise<ConnectionRecord> };
  clock: Clock;
  logger: Logger;
  events: EventLog;
  /** For the per-type deadline; real timers by default. */
  timers?: Timers;
}

export interface SyncEngineOptions {
  /** Types in flight at once. Default 3. */
  concurrency?: number;
  /**
   * Reads by reference in flight at once. Default 8: each is one small resource, so they wait
   * on the round trip more than on either side's work (the budget still paces them).
   */
  readConcurrency?: number;
  /** `auto` runs a full pass (which finds deletions) when the last is older. Default 7 days. */
  fullEveryMs?: number;
  attachments?: Partial<AttachmentPolicy>;
  /** Largest page body read. Default 64 MiB. */
  maxPageBytes?: number;
  /** Pages one search may take before it is refused as runaway. Default 10,000. */
  maxPagesPerSearch?: number;
  /** Per-vendor overrides of the sync profile (page size, incremental parameter). */
  profiles?: Partial<Record<VendorName, Partial<SyncProfile>>>;
  /** Each attempt of an upstream request gets no longer than this. Default 30 s. */
  requestTimeoutMs?: number;
  /** One type's searches get no longer than this per run; then it is `timed_out`. Default 5 min. */
  typeDeadlineMs?: number;
  /** How long a practice's refusal of a query is remembered. Default 7 days. */
  refusalTtlMs?: number;
}

export interface SyncEngine {
  plan(connectionId: string): Promise<SyncPlan>;
  /**
   * Runs a sync to its end. Resolves with the result of a run that ended `succeeded` or
   * `partial`; rejects with the error that stopped it (revoked, expired, upstream, aborted, no
   * type granted) after marking the run failed (or cancelled). Throws `not_found` for an
   * unknown connection.
   */
  run(connectionId: string, options?: SyncRunOptions): Promise<SyncResult>;
  /**
   * Ends a run whose job failed for good without it (its runner died on the last attempt):
   * marks it failed and sends `sync.failed`, unless the run had ended (and said so) already.
   */
  abandon(
    connectionId: string,
    runId: string,
    failure: { reason: string; error: string; attempts: number },
  ): Promise<void>;
}

const DAY = 24 * 3_600_000;

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  return [items.filter(test), items.filter((item) => !test(item))];
}

function groupByType(searches: readonly PlannedSearch[]): Map<string, PlannedSearch[]> {
  const byType = new Map<string, PlannedSearch[]>();
  for (const s of searches) byType.set(s.type, [...(byType.get(s.type) ?? []), s]);
  return byType;
}

/** Types this run ended already (a retry: complete, unsupported); their searches are not sent again. */
function typesEnded({ state, plan }: RunContext): Set<string> {
  const keep = new Set(
    Object.entries(state.types)
      .filter(([, t]) => t.outcome === 'complete' || t.outcome === 'unsupported')
      .map(([type]) => type),
  );
  for (const type of plan.referenceTypes) keep.delete(type);
  return keep;
}

/**
 * A full pass reads again what the record points at (a Practitioner may have changed);
 * attachments are documents: a Binary once read is kept.
 */
async function readReferencesAgain({ store, plan, clock }: RunContext): Promise<void> {
  await store.sync.resetReferences(
    plan.connectionId,
    plan.readable.filter((t) => t !== 'Binary'),
    clock.now(),
  );
}

/** An interrupted pass of another run goes on in this one: what it read counts as read. */
function countResumedPasses(
  { state, checkpoints }: RunContext,
  byType: ReadonlyMap<string, readonly PlannedSearch[]>,
  keep: ReadonlySet<string>,
): void {
  for (const [type, searches] of byType) {
    const progress = state.typeProgress(type);
    if (keep.has(type) || progress.pages > 0) continue;
    for (const s of searches) {
      const c = checkpoints.get(s.key);
      progress.resources += c?.resourcesDone ?? 0;
      progress.pages += c?.pagesDone ?? 0;
    }
  }
}

/** The types read by reference start every run pending: what they point at may be new. */
function markReferenceTypesPending({ state, plan }: RunContext): void {
  for (const type of plan.referenceTypes) {
    const progress = state.typeProgress(type);
    progress.status = 'pending';
    delete progress.outcome;
    delete progress.reason;
  }
}

/** After the reads: each type read by reference is complete unless a read of it failed. */
function markReferenceTypesDone({ state, plan }: RunContext): void {
  for (const type of plan.referenceTypes) {
    const progress = state.typeProgress(type);
    if (progress.outcome === 'failed') continue;
    progress.status = 'done';
    progress.outcome = 'complete';
  }
}

async function saveProgress({ state, store, clock }: RunContext): Promise<void> {
  await state.save(() =>
    store.sync.updateRun(state.runId, { progress: state.types, updatedAt: clock.now() }),
  );
}

/** The record of a run that starts running at `now`. */
export function runStartedNow(
  id: string,
  connectionId: string,
  mode: SyncRunMode,
  now: number,
): SyncRunRecord {
  return {
    id,
    connectionId,
    mode,
    status: 'running',
    startedAt: now,
    finishedAt: null,
    progress: {},
    result: null,
    reason: null,
    error: null,
    outcome: null,
    updatedAt: now,
  };
}

/** Creates the run's record, or takes over the one a job names again (a retry). */
async function openRun(
  store: Store,
  connectionId: string,
  runId: string,
  mode: SyncRunMode,
  now: number,
): Promise<SyncRunRecord | undefined> {
  const existing = await store.sync.getRun(runId);
  if (existing && existing.connectionId !== connectionId) {
    throw new BridgeError('conflict', `sync run ${runId} belongs to another connection`);
  }
  if (existing) {
    await store.sync.updateRun(runId, {
      status: 'running',
      finishedAt: null,
      reason: null,
      error: null,
      outcome: null,
      updatedAt: now,
    });
  } else {
    await store.sync.createRun(runStartedNow(runId, connectionId, mode, now));
  }
  // One sync at a time per connection (the job queue sees to it): a run still marked
  // running belongs to a process that died.
  await store.sync.interruptRuns(connectionId, runId, now);
  return existing;
}

/** A grant that covers no type a patient search can reach ends the run `nothing_granted`. */
function checkSomethingGranted(plan: SyncPlan, connection: ConnectionRecord): void {
  if (plan.searches.length > 0) return;
  throw new BridgeError(
    'scope_denied',
    `the grant of connection ${connection.id} covers no resource type a sync can read ` +
      `(granted: ${connection.grantedScopes.join(' ') || 'nothing'}); connect the patient again and allow access to the record`,
    { details: { outcome: 'nothing_granted' } },
  );
}

export function createSyncEngine(
  deps: SyncEngineDeps,
  options: SyncEngineOptions = {},
): SyncEngine {
  const { store, fhir, clock, logger } = deps;
  const timers = deps.timers ?? realTimers;
  const concurrency = options.concurrency ?? 3;
  const readConcurrency = options.readConcurrency ?? 8;
  const fullEveryMs = options.fullEveryMs ?? 7 * DAY;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const typeDeadlineMs = options.typeDeadlineMs ?? 5 * 60_000;
  const refusalTtlMs = options.refusalTtlMs ?? 7 * DAY;
  const policy: AttachmentPolicy = { ...DEFAULT_ATTACHMENT_POLICY, ...options.attachments };

  function planFor(connection: ConnectionRecord, target: FhirTarget): SyncPlan {
    if (!connection.patientId) {
      throw new BridgeError(
        'invalid_state',
        `connection ${connection.id} has no patient in context (state ${connection.state})`,
      );
    }
    return planSync({
      connectionId: connection.id,
      patientId: connection.patientId,
      practiceBase: target.base,
      scopes: connection.grantedScopes,
      profile: target.profile,
      sync: syncProfileFor(target.profile.name, options.profiles?.[target.profile.name]),
    });
  }

  async function execute(
    ctx: RunContext,
    controller: AbortController,
    requested: SyncRunMode,
  ): Promise<void> {
    const keep = typesEnded(ctx);
    const prepared = await preparePasses(
      store,
      ctx.plan,
      requested,
      clock.now(),
      fullEveryMs,
      keep,
    );
    for (const [key, c] of prepared.checkpoints) ctx.checkpoints.set(key, c);
    if (prepared.startsFull) await readReferencesAgain(ctx);
    const byType = groupByType(ctx.plan.searches);
    countResumedPasses(ctx, byType, keep);
    markReferenceTypesPending(ctx);
    ctx.state.report();
    const open = [...byType.keys()].filter((type) => !keep.has(type));
    const runOne = async (type: string) => {
      await runType(ctx, type, byType.get(type) ?? []);
      // The type's outcome is kept at once: a retry after a crash skips it too.
      await saveProgress(ctx);
    };
    // A type whose searches `_include` what it follows (DiagnosticReport: result Observations)
    // runs after the others, so that what a search of the followed type brings is stored by
    // that search first and an include does not store it again as a read.
    const [first, following] = partition(
      open,
      (type) => (ctx.plan.follow[type] ?? []).length === 0,
    );
    await runPool(first, concurrency, controller, runOne);
    await runPool(following, concurrency, controller, runOne);
    await readReferences(ctx, controller, readConcurrency);
    markReferenceTypesDone(ctx);
  }

  async function run(connectionId: string, runOptions: SyncRunOptions = {}): Promise<SyncResult> {
    const connection = await deps.vault.get(connectionId);
    const requested = runOptions.mode ?? 'auto';
    const runId = runOptions.runId ?? randomId('sync');
    const existing = await openRun(store, connectionId, runId, requested, clock.now());
    const state = new RunState(
      runId,
      connectionId,
      existing?.startedAt ?? clock.now(),
      logger,
      runOptions.onProgress,
      existing?.progress,
    );

    // The run's own controller: the caller's signal, or a failure that ends the run, stops
    // every type.
    const controller = new AbortController();
    const outer = runOptions.signal;
    const onAbort = () => controller.abort(outer?.reason);
    if (outer?.aborted) controller.abort(outer.reason);
    outer?.addEventListener('abort', onAbort, { once: true });
    try {
      const target = await deps.fhirTarget(connectionId);
      const plan = planFor(connection, target);
      checkSomethingGranted(plan, connection);
      const ctx: RunContext = {
        store,
        fhir,
        clock,
        timers,
        logger,
        target,
        base: parseBase(target.base, target.allowHttp),
        plan,
        wanted: new Set(plan.referenceTypes),
        readable: new Set(plan.readable),
        checkpoints: new Map(),
        state,
        signal: controller.signal,
        policy,
        maxPageBytes: options.maxPageBytes ?? 64 * 1024 * 1024,
        maxPagesPerSearch: options.maxPagesPerSearch ?? 10_000,
        requestTimeoutMs,
        typeDeadlineMs,
        refusals: await loadRefusals(store, target.base, clock.now(), refusalTtlMs),
        withoutInclude: new Set(),
        ...(runOptions.beforeWrite ? { beforeWrite: runOptions.beforeWrite } : {}),
      };
      await execute(ctx, controller, requested);
      return await completeRun(deps, state, requested, runOptions.attempt);
    } catch (caught) {
      const error = outer?.aborted ? outer.reason : caught;
      await failRun(deps, state, error, outer?.aborted === true, runOptions.attempt);
      throw error;
    } finally {
      outer?.removeEventListener('abort', onAbort);
    }
  }

  return {
    async plan(connectionId) {
      const connection = await deps.vault.get(connectionId);
      return planFor(connection, await deps.fhirTarget(connectionId));
    },
    run,
    abandon: (connectionId, runId, failure) => abandonRun(deps, connectionId, runId, failure),
  };
}
