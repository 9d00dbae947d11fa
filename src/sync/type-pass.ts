// One type's pass in a run: its searches one after another under the type's deadline, the
// fallbacks for queries the server refuses, the diff of a full pass, and how the type ended.
// A type that times out or fails costs that type only; what ends the run (a revoked grant, the
// run's own signal) is rethrown.
import { BridgeError, isBridgeError } from '../common/errors.ts';
import { randomId } from '../common/random.ts';
import { compactJson } from '../fhir/json-scan.ts';
import type { SyncCheckpoint, TypeProgress } from '../store/port.ts';
import type { Json } from './extract.ts';
import { parseJson, readBodyWithin } from './pages.ts';
import { freshCheckpoint } from './passes.ts';
import type { PlannedSearch } from './plan.ts';
import { isRefusal, LAST_UPDATED, PATIENT_BY_ID, refusalReason } from './refusals.ts';
import type { RunContext } from './run-state.ts';
import { advance, includeRefusal, runSearch, type SearchBounds, savePage } from './search-pass.ts';

/** The reason a type's signal aborts when its deadline passes. */
export class TypeDeadline extends Error {
  override readonly name = 'TypeDeadline';
}

/** Failures that end one type, not the run: the server failed or timed out on its queries. */
export function isTypeFailure(error: unknown): boolean {
  return isBridgeError(error) && error.code === 'upstream_error';
}

const incrementalRefusal = (type: string) => `${type}?${LAST_UPDATED}`;

/** A request timing out this close to the type's deadline ran into the deadline. */
const DEADLINE_SLACK_MS = 100;

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

/** Starts the type over as one full pass (every search from its first page, a new sweep). */
async function restartFull(ctx: RunContext, searches: readonly PlannedSearch[]): Promise<void> {
  const pass = randomId('pass');
  const now = ctx.clock.now();
  const fresh = searches.map((s) =>
    freshCheckpoint(ctx.plan.connectionId, s, 'full', pass, ctx.checkpoints.get(s.key), now),
  );
  for (const c of fresh) ctx.checkpoints.set(c.searchKey, c);
  await ctx.store.sync.putCheckpoints(fresh);
}

/** `Patient?_id=` refused: the patient by read (`Patient/{id}`), saved as that search's page. */
async function readPatient(
  ctx: RunContext,
  search: PlannedSearch,
  { signal, deadline }: SearchBounds,
): Promise<void> {
  const path = `Patient/${encodeURIComponent(ctx.plan.patientId)}`;
  const what = `GET ${path}`;
  ctx.state.call(search.type);
  const res = await ctx.fhir.request(ctx.target, path, {
    priority: 'background',
    signal,
    deadline,
    timeoutMs: ctx.requestTimeoutMs,
  });
  const serverTime = Date.parse(res.headers.get('date') ?? '');
  const text = await readBodyWithin(res, ctx.maxPageBytes, what, signal);
  const resource = parseJson(text, what) as Json | null;
  if (resource?.resourceType !== 'Patient' || resource.id !== ctx.plan.patientId) {
    throw new BridgeError('upstream_error', `${what} answered something else`, { status: 502 });
  }
  const now = ctx.clock.now();
  const json = compactJson(text);
  const checkpoint = advance(
    ctx.checkpoints.get(search.key) as SyncCheckpoint,
    { next: undefined, serverTime: Number.isNaN(serverTime) ? undefined : serverTime },
    [null],
    now,
  );
  await savePage(ctx, search, checkpoint, [{ resource, json }], now);
}

/** Marks a search skipped (the server refused it) with why. */
async function skipSearch(ctx: RunContext, search: PlannedSearch, reason: string): Promise<void> {
  const checkpoint: SyncCheckpoint = {
    ...(ctx.checkpoints.get(search.key) as SyncCheckpoint),
    status: 'skipped',
    nextLink: null,
    reason,
    updatedAt: ctx.clock.now(),
  };
  ctx.checkpoints.set(search.key, checkpoint);
  await ctx.store.sync.putCheckpoints([checkpoint]);
  ctx.state.skip({ what: search.key, reason });
}

/** The searches of one type, in order, with the fallbacks; throws what ends the type. */
async function searchType(
  ctx: RunContext,
  type: string,
  searches: readonly PlannedSearch[],
  bounds: SearchBounds,
  progress: TypeProgress,
): Promise<void> {
  const { refusals, plan } = ctx;
  const modeOfType = () => (ctx.checkpoints.get(searches[0]?.key ?? '') as SyncCheckpoint).mode;
  // Known from an earlier sync: this practice takes no `_lastUpdated` on this type.
  if (modeOfType() === 'incremental' && refusals.get(incrementalRefusal(type))) {
    await restartFull(ctx, searches);
    progress.fallback = `a full pass with a diff: this practice refuses ${LAST_UPDATED} on ${type}`;
  }
  progress.mode = modeOfType();
  // A search refused while incremental, run again in full: its success proves `_lastUpdated` was
  // what the server refused. Likewise a search refused with `_include`, sent again without.
  let suspect: { key: string; error: BridgeError } | undefined;
  let includeSuspect: { key: string; error: BridgeError } | undefined;
  for (let i = 0; i < searches.length; i++) {
    const search = searches[i] as PlannedSearch;
    const status = (ctx.checkpoints.get(search.key) as SyncCheckpoint).status;
    if (status === 'done' || status === 'skipped') continue;

    const remembered = refusals.get(search.key);
    if (remembered) {
      await skipSearch(ctx, search, `refused by this practice: ${remembered.reason}`);
      continue;
    }
    const byRead = type === 'Patient' && search.params._id !== undefined;
    if (byRead && refusals.get(PATIENT_BY_ID)) {
      await readPatient(ctx, search, bounds);
      progress.fallback = `read Patient/{id}: this practice refuses ${PATIENT_BY_ID}`;
      continue;
    }

    const end = await runSearch(ctx, search, bounds);
    if (end.status === 'done') {
      if (includeSuspect?.key === search.key) {
        await refusals.remember(includeRefusal(type), includeSuspect.error);
        includeSuspect = undefined;
      }
      if (suspect?.key === search.key) {
        const refusal = await refusals.remember(incrementalRefusal(type), suspect.error);
        progress.fallback = `a full pass with a diff: the server refused ${LAST_UPDATED} (${refusal.reason})`;
        suspect = undefined;
      }
      continue;
    }
    const { error } = end;
    // Refused without its includes too: they were not the cause.
    if (includeSuspect?.key === search.key) includeSuspect = undefined;
    if (end.withInclude && isRefusal(error)) {
      // Without the includes, what they would have brought is read by reference instead.
      includeSuspect = { key: search.key, error };
      ctx.withoutInclude.add(type);
      i--;
      continue;
    }
    if (modeOfType() === 'incremental' && plan.incremental !== 'none' && isRefusal(error)) {
      // Without the incremental parameter, a pass must read everything and diff to find changes
      // and deletions: the whole type starts over as one full pass.
      suspect = { key: search.key, error };
      await restartFull(ctx, searches);
      progress.mode = 'full';
      i = -1;
      continue;
    }
    if (byRead && isRefusal(error)) {
      await refusals.remember(PATIENT_BY_ID, error);
      await readPatient(ctx, search, bounds);
      progress.fallback = `read Patient/{id}: the server refused ${PATIENT_BY_ID}`;
      continue;
    }
    const refused = isRefusal(error);
    if (refused) await refusals.remember(search.key, error);
    await skipSearch(ctx, search, refused ? refusalReason(error) : error.message);
  }
}

/** End of a full pass that ran every search: the rows it did not see are marked deleted. */
async function diffType(ctx: RunContext, searches: readonly PlannedSearch[]): Promise<number> {
  const cps = searches.map((s) => ctx.checkpoints.get(s.key) as SyncCheckpoint);
  const first = cps[0];
  // A skipped search's resources would look deleted: no diff unless every search ran.
  if (first?.mode !== 'full' || !first.sweep || cps.some((c) => c.status !== 'done')) {
    return 0;
  }
  await ctx.beforeWrite?.();
  const deleted = await ctx.store.resources.markUnseen(
    ctx.plan.connectionId,
    first.type,
    first.sweep,
    ctx.clock.now(),
  );
  if (deleted > 0) {
    ctx.logger.info(
      { connectionId: ctx.plan.connectionId, type: first.type, deleted },
      'sync found deletions',
    );
  }
  return deleted;
}

/**
 * Runs one type to its outcome: `complete`, `unsupported` (every query refused), `timed_out`
 * (its deadline passed; its unfinished searches resume on the next attempt) or `failed` (an
 * upstream error). Rethrows what ends the run.
 */
export async function runType(
  ctx: RunContext,
  type: string,
  searches: readonly PlannedSearch[],
): Promise<void> {
  const progress = ctx.state.typeProgress(type);
  const controller = new AbortController();
  const stopWithRun = () => controller.abort(ctx.signal.reason);
  if (ctx.signal.aborted) stopWithRun();
  ctx.signal.addEventListener('abort', stopWithRun, { once: true });
  const timer = ctx.timers.setTimeout(
    () => controller.abort(new TypeDeadline(`${type}: the type's deadline passed`)),
    ctx.typeDeadlineMs,
  );
  const bounds: SearchBounds = {
    signal: controller.signal,
    deadline: ctx.clock.now() + ctx.typeDeadlineMs,
  };
  delete progress.reason;
  try {
    await searchType(ctx, type, searches, bounds, progress);
    const deleted = await diffType(ctx, searches);
    progress.deleted = (progress.deleted ?? 0) + deleted;
    const statuses = searches.map((s) => ctx.checkpoints.get(s.key)?.status);
    if (statuses.every((s) => s === 'skipped')) {
      progress.outcome = 'unsupported';
      progress.status = 'skipped';
      const why = searches.map((s) => ctx.checkpoints.get(s.key)?.reason).find(Boolean);
      progress.reason = `the server refused every query for ${type}${why ? `: ${why}` : ''}`;
    } else {
      progress.outcome = 'complete';
      progress.status = 'done';
    }
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    // A request cut short at the deadline, or a budget slot not free before it, is the type's
    // time running out, not an error of the server.
    const timedOut =
      (isBridgeError(error) && error.details?.timeout === true) ||
      (isBridgeError(error, 'budget_exhausted') &&
        ctx.clock.now() + DEADLINE_SLACK_MS >= bounds.deadline);
    if (controller.signal.aborted || timedOut) {
      // The client cuts an attempt short at the deadline, so its timeout may come first.
      const pastDeadline =
        controller.signal.aborted || ctx.clock.now() + DEADLINE_SLACK_MS >= bounds.deadline;
      progress.outcome = 'timed_out';
      progress.status = 'failed';
      progress.reason = `${pastDeadline ? `${type} did not finish within its deadline of ${seconds(ctx.typeDeadlineMs)}` : (error as BridgeError).message}; its unfinished searches resume on the next attempt`;
    } else if (isTypeFailure(error)) {
      progress.outcome = 'failed';
      progress.status = 'failed';
      progress.reason = (error as BridgeError).message;
    } else {
      throw error;
    }
    // The outcome travels in the result and the events; the log keeps it for operators.
    ctx.logger.info(
      {
        connectionId: ctx.plan.connectionId,
        type,
        outcome: progress.outcome,
        reason: progress.reason,
      },
      'a type of the sync did not complete',
    );
  } finally {
    ctx.timers.clearTimeout(timer);
    ctx.signal.removeEventListener('abort', stopWithRun);
    ctx.state.report();
  }
}
