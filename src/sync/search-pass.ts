// One search of a pass, page by page: read the page, write its resources, references and the
// checkpoint in one transaction, follow `next`. Nothing accumulates across pages: memory stays
// one page deep however large the record is.
import { BridgeError, isBridgeError } from '../common/errors.ts';
import type { ReferenceNote, SyncCheckpoint } from '../store/port.ts';
import { findReferences, type Json, toResourceWrite } from './extract.ts';
import { incrementalParam, nextHighWater } from './high-water.ts';
import { type Page, readPage } from './pages.ts';
import type { PlannedSearch } from './plan.ts';
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

/** The first page's path: the search's parameters, the page size and the incremental mark. */
export function firstPagePath(
  search: PlannedSearch,
  checkpoint: SyncCheckpoint,
  ctx: Pick<RunContext, 'plan'>,
): string {
  const params = new URLSearchParams(search.params);
  params.set('_count', String(ctx.plan.pageSize));
  if (checkpoint.mode === 'incremental' && ctx.plan.incremental !== 'none') {
    const [name, value] = incrementalParam(ctx.plan.incremental, checkpoint.highWater ?? 0);
    params.set(name, value);
  }
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

/** How a search ended: its last page read, or refused on its first page (the caller decides). */
export type SearchEnd = { status: 'done' } | { status: 'refused'; error: BridgeError };

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
        return { status: 'refused', error };
      }
      throw error;
    }
    resuming = false;

    const now = ctx.clock.now();
    checkpoint = advance(
      checkpoint,
      page,
      page.resources.map((r) => toResourceWrite(r.resource, r.json).lastUpdatedMs),
      now,
    );
    await savePage(ctx, search, checkpoint, page.resources, now);
    if (page.next === undefined) return { status: 'done' };
    path = page.next;
  }
}

/** Writes one page's resources, the references they name and the search's checkpoint at once. */
export async function savePage(
  ctx: RunContext,
  search: PlannedSearch,
  checkpoint: SyncCheckpoint,
  resources: ReadonlyArray<{ resource: Json; json: string }>,
  now: number,
): Promise<void> {
  const { state, store, target, base, plan } = ctx;
  const progress = state.typeProgress(search.type);
  const writes = resources.map((r) => toResourceWrite(r.resource, r.json));
  const references = new Map<string, ReferenceNote>();
  const follow = plan.follow[search.type];
  for (const r of resources) {
    const found = findReferences(
      r.resource,
      base,
      ctx.wanted,
      plan.attachments,
      follow ? { elements: follow, readable: ctx.readable } : undefined,
    );
    for (const ref of found.references) references.set(`${ref.type}/${ref.id}`, ref);
    for (const s of found.skipped) state.skip(s);
  }
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
}
