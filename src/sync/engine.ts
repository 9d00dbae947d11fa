// The sync engine: pulls a connection's record into the store. A run plans the searches from
// the granted scopes, resumes or starts one pass per type (passes.ts), runs the searches page by
// page with a checkpoint in every page's transaction (search-pass.ts), marks what a full pass no
// longer found as deleted, then reads what the record points at (reference-reads.ts). It ends
// with `sync.completed` or `sync.failed` in the event outbox.
import type { Clock } from '../common/clock.ts';
import { BridgeError, isBridgeError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { randomId } from '../common/random.ts';
import type { EventLog } from '../events/log.ts';
import type { FhirClient, FhirTarget, VendorName } from '../fhir/index.ts';
import { parseBase } from '../fhir/urls.ts';
import type {
  ConnectionRecord,
  Store,
  SyncCheckpoint,
  SyncPassMode,
  SyncRunMode,
  TypeProgress,
} from '../store/port.ts';
import { type AttachmentPolicy, DEFAULT_ATTACHMENT_POLICY } from './binary.ts';
import type { Skip } from './extract.ts';
import { preparePasses } from './passes.ts';
import { planSync, type SyncPlan } from './plan.ts';
import { runPool } from './pool.ts';
import { type SyncProfile, syncProfileFor } from './profiles.ts';
import { readReferences } from './reference-reads.ts';
import { type RunContext, RunState, type SyncProgress, type SyncTotals } from './run-state.ts';
import { runSearch } from './search-pass.ts';

export type { SyncProgress, SyncTotals } from './run-state.ts';

export interface SyncResult {
  runId: string;
  connectionId: string;
  status: 'completed';
  mode: SyncPassMode;
  startedAt: number;
  finishedAt: number;
  types: Record<string, TypeProgress>;
  totals: SyncTotals;
  /** Searches, references and attachments that were not read, with why (at most 100). */
  skipped: Skip[];
}

export interface SyncRunOptions {
  mode?: SyncRunMode;
  signal?: AbortSignal;
  onProgress?: (progress: SyncProgress) => void;
  /** The run's id (a job may name it); a run that exists is resumed under the same id. */
  runId?: string;
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
}

export interface SyncEngineOptions {
  /** Searches (and reference reads) in flight at once. Default 3. */
  concurrency?: number;
  /** `auto` runs a full pass (which finds deletions) when the last is older. Default 7 days. */
  fullEveryMs?: number;
  attachments?: Partial<AttachmentPolicy>;
  /** Largest page body read. Default 64 MiB. */
  maxPageBytes?: number;
  /** Pages one search may take before it is refused as runaway. Default 10,000. */
  maxPagesPerSearch?: number;
  /** Per-vendor overrides of the sync profile (page size, incremental parameter). */
  profiles?: Partial<Record<VendorName, Partial<SyncProfile>>>;
}

export interface SyncEngine {
  plan(connectionId: string): Promise<SyncPlan>;
  /**
   * Runs a sync to its end. Resolves with the result of a completed run; rejects with the error
   * that stopped it (revoked, expired, upstream, aborted) after marking the run failed (with
   * `sync.failed`) or cancelled. Throws `not_found` for an unknown connection.
   */
  run(connectionId: string, options?: SyncRunOptions): Promise<SyncResult>;
}

export function createSyncEngine(
  deps: SyncEngineDeps,
  options: SyncEngineOptions = {},
): SyncEngine {
  const { store, fhir, clock, logger, events } = deps;
  const concurrency = options.concurrency ?? 3;
  const fullEveryMs = options.fullEveryMs ?? 7 * 24 * 3_600_000;
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

  /** Creates the run's record, or takes over the one a job names again (a retry). */
  async function openRun(connectionId: string, runId: string, mode: SyncRunMode, now: number) {
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
        updatedAt: now,
      });
    } else {
      await store.sync.createRun({
        id: runId,
        connectionId,
        mode,
        status: 'running',
        startedAt: now,
        finishedAt: null,
        progress: {},
        result: null,
        reason: null,
        error: null,
        updatedAt: now,
      });
    }
    // One sync at a time per connection (the job queue sees to it): a run still marked
    // running belongs to a process that died.
    await store.sync.interruptRuns(connectionId, runId, now);
    return existing?.startedAt ?? now;
  }

  /** End of a type's pass: a full pass that ran every search marks the unseen rows deleted. */
  async function finishType(ctx: RunContext, type: string): Promise<void> {
    const cps = ctx.plan.searches
      .filter((s) => s.type === type)
      .map((s) => ctx.checkpoints.get(s.key) as SyncCheckpoint);
    const progress = ctx.state.typeProgress(type);
    if (cps.every((c) => c.status === 'skipped')) {
      progress.status = 'skipped';
      return;
    }
    const first = cps[0] as SyncCheckpoint;
    // A skipped search's resources would look deleted: no diff unless every search ran.
    if (first.mode === 'full' && first.sweep && cps.every((c) => c.status === 'done')) {
      const deleted = await store.resources.markUnseen(
        ctx.plan.connectionId,
        type,
        first.sweep,
        clock.now(),
      );
      ctx.state.totals.deleted += deleted;
      if (deleted > 0) {
        logger.info({ connectionId: ctx.plan.connectionId, type, deleted }, 'sync found deletions');
      }
    }
    progress.status = 'done';
  }

  async function execute(
    ctx: RunContext,
    controller: AbortController,
    requested: SyncRunMode,
  ): Promise<void> {
    const { plan, state } = ctx;
    const prepared = await preparePasses(store, plan, requested, clock.now(), fullEveryMs);
    for (const [key, c] of prepared.checkpoints) ctx.checkpoints.set(key, c);
    if (prepared.startsFull) {
      // A full pass reads again what the record points at (a Practitioner may have changed);
      // attachments are documents: a Binary once read is kept.
      await store.sync.resetReferences(
        plan.connectionId,
        plan.referenceTypes.filter((t) => t !== 'Binary'),
        clock.now(),
      );
    }
    for (const c of ctx.checkpoints.values()) {
      if (c.mode === 'full') state.mode = 'full';
      const progress = state.typeProgress(c.type);
      progress.resources += c.resourcesDone;
      progress.pages += c.pagesDone;
    }
    for (const type of plan.referenceTypes) state.typeProgress(type);
    state.report();

    const remaining = new Map<string, number>();
    const open = plan.searches.filter((s) => {
      const status = ctx.checkpoints.get(s.key)?.status;
      const isOpen = status === 'pending' || status === 'running';
      if (isOpen) remaining.set(s.type, (remaining.get(s.type) ?? 0) + 1);
      return isOpen;
    });
    // Types whose searches all ended in an earlier run that stopped before this point.
    for (const type of new Set(plan.searches.map((s) => s.type))) {
      if (!remaining.has(type)) await finishType(ctx, type);
    }
    await runPool(open, concurrency, controller, async (search) => {
      await runSearch(ctx, search);
      const left = (remaining.get(search.type) ?? 1) - 1;
      remaining.set(search.type, left);
      if (left === 0) await finishType(ctx, search.type);
      state.report();
    });

    await readReferences(ctx, controller, concurrency);
    for (const type of plan.referenceTypes) state.typeProgress(type).status = 'done';
  }

  async function run(connectionId: string, runOptions: SyncRunOptions = {}): Promise<SyncResult> {
    const connection = await deps.vault.get(connectionId);
    const requested = runOptions.mode ?? 'auto';
    const runId = runOptions.runId ?? randomId('sync');
    const startedAt = await openRun(connectionId, runId, requested, clock.now());
    const state = new RunState(runId, connectionId, startedAt, logger, runOptions.onProgress);

    // The run's own controller: the caller's signal, or the first failure, stops every search.
    const controller = new AbortController();
    const outer = runOptions.signal;
    const onAbort = () => controller.abort(outer?.reason);
    if (outer?.aborted) controller.abort(outer.reason);
    outer?.addEventListener('abort', onAbort, { once: true });
    try {
      const target = await deps.fhirTarget(connectionId);
      const plan = planFor(connection, target);
      const ctx: RunContext = {
        store,
        fhir,
        clock,
        logger,
        target,
        base: parseBase(target.base, target.allowHttp),
        plan,
        wanted: new Set(plan.referenceTypes),
        checkpoints: new Map(),
        state,
        signal: controller.signal,
        policy,
        maxPageBytes: options.maxPageBytes ?? 64 * 1024 * 1024,
        maxPagesPerSearch: options.maxPagesPerSearch ?? 10_000,
      };
      await execute(ctx, controller, requested);
      return await complete(state);
    } catch (caught) {
      await fail(state, outer?.aborted ? outer.reason : caught, outer?.aborted === true);
      throw outer?.aborted ? outer.reason : caught;
    } finally {
      outer?.removeEventListener('abort', onAbort);
    }
  }

  async function complete(state: RunState): Promise<SyncResult> {
    const finishedAt = clock.now();
    const { runId, connectionId, totals, skipped } = state;
    await store.sync.updateRun(runId, {
      status: 'completed',
      finishedAt,
      progress: state.types,
      result: { mode: state.mode, totals, skipped },
      updatedAt: finishedAt,
    });
    await events.emit('sync.completed', connectionId, {
      runId,
      mode: state.mode,
      resources: totals.resources,
      inserted: totals.inserted,
      updated: totals.updated,
      deleted: totals.deleted,
      calls: totals.calls,
      durationMs: finishedAt - state.startedAt,
    });
    state.report();
    return {
      runId,
      connectionId,
      status: 'completed',
      mode: state.mode,
      startedAt: state.startedAt,
      finishedAt,
      types: state.types,
      totals,
      skipped,
    };
  }

  /** Marks the run failed (or cancelled) and says so in the outbox; what was stored stays. */
  async function fail(state: RunState, error: unknown, cancelled: boolean): Promise<void> {
    const finishedAt = clock.now();
    const { runId, connectionId, totals, skipped } = state;
    for (const t of Object.values(state.types)) {
      if (t.status === 'running' || t.status === 'pending')
        t.status = cancelled ? 'pending' : 'failed';
    }
    const reason = cancelled ? 'cancelled' : isBridgeError(error) ? error.code : 'internal';
    const message = error instanceof Error ? error.message : String(error);
    if (!cancelled && !isBridgeError(error)) {
      logger.error({ err: error, connectionId, runId }, 'sync failed unexpectedly');
    }
    await store.sync.updateRun(runId, {
      status: cancelled ? 'cancelled' : 'failed',
      finishedAt,
      progress: state.types,
      result: { mode: state.mode, totals, skipped },
      reason,
      error: message,
      updatedAt: finishedAt,
    });
    if (!cancelled) {
      // The vault has already emitted `connection.revoked` when that is the cause.
      await events.emit('sync.failed', connectionId, {
        runId,
        reason,
        error: message,
        resources: totals.resources,
      });
    }
    state.report();
  }

  return {
    async plan(connectionId) {
      const connection = await deps.vault.get(connectionId);
      return planFor(connection, await deps.fhirTarget(connectionId));
    },
    run,
  };
}
