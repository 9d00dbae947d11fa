// One search of a pass, page by page: read the page, write its resources, references and the
// checkpoint in one transaction, follow `next`. Nothing accumulates across pages: memory stays
// one page deep however large the record is.
import { BridgeError, isBridgeError } from '../common/errors.ts';
import type { ReferenceNote, SyncCheckpoint } from '../store/port.ts';
import { findReferences, toResourceWrite } from './extract.ts';
import { incrementalParam, nextHighWater } from './high-water.ts';
import { type Page, type PageResource, readPage } from './pages.ts';
import type { PlannedSearch } from './plan.ts';
import { INCLUDE } from './refusals.ts';
import type { RunContext } from './run-state.ts';

/** Statuses of a resumed `next` link that mean the server forgot the search (HAPI: 410). */
const STALE_CURSOR = new Set([400, 404, 410]);

/** A search the server refuses outright (a 4xx but auth and rate limits): skipped, not fatal. */
export function isRejectedSearch(error: unknown): error is BridgeError {
  return (
    isBridgeError(error) &&
    error.status !== undefined &&
    error.status >= 400 &&
    error.status < 500 &&
    error.status !== 401 &&
    error.status !== 429 &&
    !['revoked', 'expired', 'budget_exhausted', 'rate_limited', 'host_not_allowed'].includes(
      error.code,
    )
  );
}

/** The refusal a practice's 400 to a type's `_include` is remembered under. */
export const includeRefusal = (type: string) => `${type}?${INCLUDE}`;

/**
 * The `_include`s a search of `type` asks for: the elements the profile follows
 * (`DiagnosticReport:result`), so that what they name comes on the same page instead of one read
 * each; none where this practice refused them.
 */
export function includesFor(
  ctx: Pick<RunContext, 'plan' | 'refusals' | 'withoutInclude'>,
  type: string,
): string[] {
  const elements = ctx.plan.follow[type] ?? [];
  if (elements.length === 0 || ctx.withoutInclude.has(type)) return [];
  if (ctx.refusals.get(includeRefusal(type))) return [];
  return elements.map((element) => `${type}:${element}`);
}

/** The first page's path: the search's parameters, the page size, the incremental mark, includes. */
export function firstPagePath(
  search: PlannedSearch,
  checkpoint: SyncCheckpoint,
  ctx: Pick<RunContext, 'plan' | 'refusals' | 'withoutInclude'>,
): string {
  const params = new URLSearchParams(search.params);
  params.set('_count', String(ctx.plan.pageSize));
  if (checkpoint.mode === 'incremental' && ctx.plan.incremental !== 'none') {
    const [name, value] = incrementalParam(ctx.plan.incremental, checkpoint.highWater ?? 0);
    params.set(name, value);
  }
  for (const include of includesFor(ctx, search.type)) params.append(INCLUDE, include);
  return `${search.type}?${params.toString()}`;
}

/** The checkpoint after `page`: one page more, the pass's marks, the new mark when done. */
export function advance(
  checkpoint: SyncCheckpoint,
  page: Pick<Page, 'next' | 'serverTime'>,
  lastUpdated: Array<number | null>,
  now: number,
): SyncCheckpoint {
  let seenMax = checkpoint.seenMax;
  for (const ms of lastUpdated) if (ms !== null && (seenMax === null || ms > seenMax)) seenMax = ms;
  // The server's clock at the pass's first page bounds the next mark (see high-water.ts).
  const passBound =
    checkpoint.passBound ?? (checkpoint.pagesDone === 0 ? (page.serverTime ?? null) : null);
  const done = page.next === undefined;
  const next: SyncCheckpoint = {
    ...checkpoint,
    status: done ? 'done' : 'running',
    nextLink: page.next ?? null,
    pagesDone: checkpoint.pagesDone + 1,
    resourcesDone: checkpoint.resourcesDone + lastUpdated.length,
    passBound,
    seenMax,
    updatedAt: now,
  };
  if (done) {
    next.highWater = nextHighWater(checkpoint.mode, { passBound, seenMax }, checkpoint.highWater);
    if (checkpoint.mode === 'full') next.lastFullAt = now;
  }
  return next;
}

/**
 * How a search ended: its last page read, or refused on its first page (the caller decides;
 * `withInclude`: the refused request asked for `_include`s).
 */
export type SearchEnd =
  | { status: 'done' }
  | { status: 'refused'; error: BridgeError; withInclude: boolean };

/** Where one search runs: the type's signal (its deadline) and the instant that deadline falls. */
export interface SearchBounds {
  signal: AbortSignal;
  deadline: number;
}

/** Runs one search of the pass to its last page, or returns the server's refusal of it. */
export async function runSearch(
  ctx: RunContext,
  search: PlannedSearch,
  { signal, deadline }: SearchBounds,
): Promise<SearchEnd> {
  const { state, target, base, plan } = ctx;
  let checkpoint = ctx.checkpoints.get(search.key) as SyncCheckpoint;
  const progress = state.typeProgress(search.type);
  progress.status = 'running';
  // A crash left this search mid-way: go on from the stored link.
  let resuming = checkpoint.status === 'running' && checkpoint.nextLink !== null;
  let path = resuming ? (checkpoint.nextLink as string) : firstPagePath(search, checkpoint, ctx);
  const seen = new Set<string>();
  for (;;) {
    signal.throwIfAborted();
    if (seen.has(path)) {
      throw new BridgeError(
        'upstream_error',
        `${search.key}: the next link loops back to a page already read`,
        { status: 502 },
      );
    }
    if (checkpoint.pagesDone >= ctx.maxPagesPerSearch) {
      throw new BridgeError(
        'upstream_error',
        `${search.key}: more than ${ctx.maxPagesPerSearch} pages`,
        { status: 502 },
      );
    }
    seen.add(path);
    let page: Page;
    try {
      state.call(search.type);
      page = await readPage(ctx.fhir, target, base, path, {
        signal,
        deadline,
        timeoutMs: ctx.requestTimeoutMs,
        maxPageBytes: ctx.maxPageBytes,
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (resuming && isBridgeError(error) && STALE_CURSOR.has(error.status ?? 0)) {
        // The server forgot the paged search (its cursors expire): read it again from the start
        // under the same pass. Upserts make the pages read twice harmless.
        ctx.logger.info(
          { connectionId: plan.connectionId, search: search.key },
          'the resumed page link expired; restarting the search',
        );
        resuming = false;
        path = firstPagePath(search, checkpoint, ctx);
        seen.clear();
        continue;
      }
      if (checkpoint.pagesDone === 0 && isRejectedSearch(error)) {
        return { status: 'refused', error, withInclude: path.includes(`${INCLUDE}=`) };
      }
      throw error;
    }
    resuming = false;

    const now = ctx.clock.now();
    const writes = page.resources.map((r) => toResourceWrite(r.resource, r.json));
    checkpoint = advance(
      checkpoint,
      page,
      writes.map((w) => w.lastUpdatedMs),
      now,
    );
    const references = await savePage(ctx, search, checkpoint, page.resources, now, writes);
    if (page.included.length > 0) await saveIncluded(ctx, page.included, references, now);
    if (page.next === undefined) return { status: 'done' };
    path = page.next;
  }
}

/**
 * Writes one page's resources, the references they name and the search's checkpoint at once.
 * Returns those references (`Type/id` → reference).
 */
export async function savePage(
  ctx: RunContext,
  search: PlannedSearch,
  checkpoint: SyncCheckpoint,
  resources: readonly PageResource[],
  now: number,
  writes = resources.map((r) => toResourceWrite(r.resource, r.json)),
): Promise<Map<string, ReferenceNote>> {
  const { state, store, target, plan } = ctx;
  const progress = state.typeProgress(search.type);
  const references = referencesOf(ctx, resources, plan.follow[search.type]);
  await ctx.beforeWrite?.();
  await state.save(async () => {
    ctx.checkpoints.set(search.key, checkpoint);
    progress.resources += writes.length;
    progress.pages += 1;
    const result = await store.resources.savePage({
      connectionId: plan.connectionId,
      practiceBase: target.base,
      fetchedAt: now,
      source: search.key,
      // Only a full pass stamps what it saw: the diff at its end looks for the unstamped.
      sweep: checkpoint.mode === 'full' ? checkpoint.sweep : null,
      resources: writes,
      references: [...references.values()],
      checkpoint,
      run: { id: state.runId, progress: state.types, updatedAt: now, countsFor: search.type },
    });
    state.count(search.type, result);
  });
  state.report();
  return references;
}

/** The references `resources` name that the run reads (deduplicated), skips noted. */
function referencesOf(
  ctx: RunContext,
  resources: readonly PageResource[],
  follow: readonly string[] | undefined,
): Map<string, ReferenceNote> {
  const references = new Map<string, ReferenceNote>();
  for (const r of resources) {
    const found = findReferences(
      r.resource,
      ctx.base,
      ctx.wanted,
      ctx.plan.attachments,
      follow ? { elements: follow, readable: ctx.readable } : undefined,
    );
    for (const ref of found.references) references.set(`${ref.type}/${ref.id}`, ref);
    for (const s of found.skipped) ctx.state.skip(s);
  }
  return references;
}

/**
 * What `_include` brought with a page, stored as a read by reference would store it (source
 * `read`, no sweep: a type's diff never counts it as its own), and the references it answers
 * resolved, so that no read is sent for them. Only what the page's resources name counts; a
 * resource some search already stored stays that search's (its row is not touched). Written after
 * the page's own transaction: a crash in between leaves those references pending, read next run.
 */
async function saveIncluded(
  ctx: RunContext,
  included: readonly PageResource[],
  named: ReadonlyMap<string, ReferenceNote>,
  now: number,
): Promise<void> {
  const { store, state, plan } = ctx;
  const byType = new Map<string, PageResource[]>();
  const answered: Array<{ type: string; id: string }> = [];
  for (const r of included) {
    const type = r.resource.resourceType as string;
    const id = r.resource.id as string;
    if (!named.has(`${type}/${id}`)) continue;
    answered.push({ type, id });
    const stored = await store.resources.get(plan.connectionId, type, id);
    if (stored && stored.source !== 'read') continue;
    byType.set(type, [...(byType.get(type) ?? []), r]);
  }
  if (answered.length === 0) return;
  await ctx.beforeWrite?.();
  for (const [type, resources] of byType) {
    const references = referencesOf(ctx, resources, undefined);
    await state.save(async () => {
      const progress = state.typeProgress(type);
      progress.resources += resources.length;
      progress.read = (progress.read ?? 0) + resources.length;
      const result = await store.resources.savePage({
        connectionId: plan.connectionId,
        practiceBase: ctx.target.base,
        fetchedAt: now,
        source: 'read',
        sweep: null,
        resources: resources.map((r) => toResourceWrite(r.resource, r.json)),
        references: [...references.values()],
        run: { id: state.runId, progress: state.types, updatedAt: now, countsFor: type },
      });
      state.count(type, result);
    });
  }
  // The answered references marked done in one transaction, not one commit each.
  await store.resources.savePage({
    connectionId: plan.connectionId,
    practiceBase: ctx.target.base,
    fetchedAt: now,
    source: 'read',
    sweep: null,
    resources: [],
    resolved: answered,
  });
}
