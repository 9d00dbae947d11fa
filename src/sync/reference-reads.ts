// Resources read by reference after the searches: what the record points at and cannot be
// searched per patient (Practitioner, Organization, Location, Medication...), attachments as
// Binary, and the references the profile follows although their type is searched
// (DiagnosticReport.result: Observations in no category the searches ask for). Each is read once
// (the store keys them), and what they point at in turn joins the queue. A read the server fails
// costs that read (it stays pending for the next run), never the run.
import { isBridgeError } from '../common/errors.ts';
import { compactJson } from '../fhir/json-scan.ts';
import type { ReferenceNote, SyncReference } from '../store/port.ts';
import { checkDeclared, readAttachment } from './binary.ts';
import { findReferences, type Json, toResourceWrite } from './extract.ts';
import { parseJson, readBodyWithin } from './pages.ts';
import { runPool } from './pool.ts';
import type { RunContext } from './run-state.ts';
import { isTypeFailure } from './type-pass.ts';

const BATCH = 100;
/** Reads written per transaction at most (see ReadWrites). */
const FLUSH_EVERY = 25;
/** Answers that end one read, not the sync: not allowed, never there, deleted. */
const PASSING = new Set([403, 404, 410]);
const NOT_ALLOWED = 'the granted scopes do not allow reading it';

type ReadOutcome =
  | { status: 'read'; resource: Json; json: string }
  | { status: 'skipped'; reason: string };

/** A reference the profile follows although its type is searched (DiagnosticReport.result). */
const isFollowed = (ctx: RunContext, ref: SyncReference) => !ctx.wanted.has(ref.type);

/**
 * Whether a search already stored what `ref` names: a followed reference to a searched type's
 * resource costs no call. Rows a search brought are that search's to keep current; a row an
 * earlier read brought is read again.
 */
async function isKnown(ctx: RunContext, ref: SyncReference): Promise<boolean> {
  if (!isFollowed(ctx, ref) || !ctx.readable.has(ref.type)) return false;
  const stored = await ctx.store.resources.get(ctx.plan.connectionId, ref.type, ref.id);
  return stored !== undefined && stored.source !== 'read';
}

/**
 * Marks done, in one transaction, the references of `batch` that a search already answered, and
 * returns the others, still to read.
 */
async function resolveKnown(ctx: RunContext, batch: SyncReference[]): Promise<SyncReference[]> {
  const known: SyncReference[] = [];
  const rest: SyncReference[] = [];
  for (const ref of batch) ((await isKnown(ctx, ref)) ? known : rest).push(ref);
  if (known.length === 0) return rest;
  for (const ref of known) {
    const progress = ctx.state.typeProgress(ref.type);
    if (progress.status === 'pending') progress.status = 'running';
  }
  await ctx.store.resources.savePage({
    connectionId: ctx.plan.connectionId,
    practiceBase: ctx.target.base,
    fetchedAt: ctx.clock.now(),
    source: 'read',
    sweep: null,
    resources: [],
    resolved: known.map(({ type, id }) => ({ type, id })),
  });
  return rest;
}

async function readOne(ctx: RunContext, ref: SyncReference): Promise<ReadOutcome> {
  const { state, signal, target } = ctx;
  if (isFollowed(ctx, ref) && !ctx.readable.has(ref.type)) {
    return { status: 'skipped', reason: NOT_ALLOWED };
  }
  const options = { priority: 'background' as const, signal, timeoutMs: ctx.requestTimeoutMs };
  if (ref.type === 'Binary') {
    const declared = checkDeclared(ctx.policy, ref);
    if (declared) return { status: 'skipped', reason: declared };
    state.call(ref.type);
    return readAttachment(ctx.fhir, target, ref.id, ctx.policy, signal, ctx.requestTimeoutMs);
  }
  const what = `GET ${ref.type}/${ref.id}`;
  let text: string;
  try {
    state.call(ref.type);
    const res = await ctx.fhir.request(target, `${ref.type}/${ref.id}`, options);
    text = await readBodyWithin(res, ctx.maxPageBytes, what, signal);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (isBridgeError(error) && PASSING.has(error.status ?? 0)) {
      return { status: 'skipped', reason: error.message };
    }
    throw error;
  }
  const resource = parseJson(text, what) as Json | null;
  if (resource?.resourceType !== ref.type || resource.id !== ref.id) {
    return { status: 'skipped', reason: `${what} answered something else` };
  }
  return { status: 'read', resource, json: compactJson(text) };
}

/** What answered a reference, waiting to be written with the reads around it. */
interface ReadResult {
  ref: SyncReference;
  resource: Json;
  json: string;
  /** What it points at in turn. */
  references: ReferenceNote[];
  fetchedAt: number;
}

/**
 * Reads written together instead of one commit each: one transaction per type for every
 * `FLUSH_EVERY` reads and at the end of each batch, each resource with its reference's done mark.
 * A crash loses only reads not yet written: their references are still pending, read again.
 */
class ReadWrites {
  private queue: ReadResult[] = [];

  constructor(private readonly ctx: RunContext) {}

  async add(read: ReadResult): Promise<void> {
    this.queue.push(read);
    if (this.queue.length >= FLUSH_EVERY) await this.flush();
  }

  async flush(): Promise<void> {
    const reads = this.queue;
    this.queue = [];
    if (reads.length === 0) return;
    await this.ctx.beforeWrite?.();
    const byType = new Map<string, ReadResult[]>();
    for (const read of reads)
      byType.set(read.ref.type, [...(byType.get(read.ref.type) ?? []), read]);
    for (const [type, ofType] of byType) await this.write(type, ofType);
    this.ctx.state.report();
  }

  private async write(type: string, reads: ReadResult[]): Promise<void> {
    const { state, store, plan, target } = this.ctx;
    const fetchedAt = Math.max(...reads.map((r) => r.fetchedAt));
    await state.save(async () => {
      const progress = state.typeProgress(type);
      progress.pages += reads.length;
      progress.resources += reads.length;
      progress.read = (progress.read ?? 0) + reads.length;
      const written = await store.resources.savePage({
        connectionId: plan.connectionId,
        practiceBase: target.base,
        fetchedAt,
        source: 'read',
        sweep: null,
        resources: reads.map((r) => toResourceWrite(r.resource, r.json)),
        references: reads.flatMap((r) => r.references),
        // Each reference is done in the same transaction as what answers it: no crash between
        // the two can leave it pending to be read again.
        resolved: reads.map(({ ref }) => ({ type: ref.type, id: ref.id })),
        run: { id: state.runId, progress: state.types, updatedAt: fetchedAt, countsFor: type },
      });
      state.count(type, written);
    });
  }
}

async function readReference(ctx: RunContext, ref: SyncReference, writes: ReadWrites) {
  const { state, store, plan, clock } = ctx;
  const progress = state.typeProgress(ref.type);
  if (progress.status === 'pending') progress.status = 'running';
  const outcome = await readOne(ctx, ref);
  const now = clock.now();
  if (outcome.status === 'skipped') {
    if (outcome.reason !== NOT_ALLOWED) progress.pages++;
    progress.skipped = (progress.skipped ?? 0) + 1;
    state.skip({ what: `${ref.type}/${ref.id}`, reason: outcome.reason });
    await store.sync.resolveReference(plan.connectionId, ref.type, ref.id, {
      status: 'skipped',
      reason: outcome.reason,
      at: now,
    });
    return;
  }
  const found = findReferences(outcome.resource, ctx.base, ctx.wanted, plan.attachments);
  for (const s of found.skipped) state.skip(s);
  await writes.add({
    ref,
    resource: outcome.resource,
    json: outcome.json,
    references: found.references,
    fetchedAt: now,
  });
}

/**
 * Reads every pending reference, in batches, until none is left (new ones included). A read the
 * server fails marks its type `failed` and stays pending; the others go on.
 */
export async function readReferences(
  ctx: RunContext,
  controller: AbortController,
  concurrency: number,
): Promise<void> {
  const failed = new Set<string>();
  for (;;) {
    const batch = (
      await ctx.store.sync.pendingReferences(ctx.plan.connectionId, BATCH + failed.size)
    ).filter((ref) => !failed.has(`${ref.type}/${ref.id}`));
    if (batch.length === 0) return;
    const toRead = await resolveKnown(ctx, batch);
    const writes = new ReadWrites(ctx);
    await readAll(ctx, toRead, concurrency, controller, writes, failed);
    // Written before the next batch is asked for, which would otherwise name these again.
    await writes.flush();
  }
}

/** Reads `refs` into `writes`; a read that failed its type joins `failed`. */
async function readAll(
  ctx: RunContext,
  refs: SyncReference[],
  concurrency: number,
  controller: AbortController,
  writes: ReadWrites,
  failed: Set<string>,
): Promise<void> {
  try {
    await runPool(refs, concurrency, controller, async (ref) => {
      try {
        await readReference(ctx, ref, writes);
      } catch (error) {
        if (ctx.signal.aborted || !isTypeFailure(error)) throw error;
        failed.add(`${ref.type}/${ref.id}`);
        const progress = ctx.state.typeProgress(ref.type);
        progress.outcome = 'failed';
        progress.status = 'failed';
        progress.reason = `${failed.size} read${failed.size === 1 ? '' : 's'} failed, the last: ${(error as Error).message}`;
        ctx.logger.warn(
          { connectionId: ctx.plan.connectionId, type: ref.type, err: error },
          'a read by reference failed',
        );
      }
    });
  } catch (error) {
    // What was read before the run stopped is kept, as a page written before it would be. If
    // that write fails too (a lost lease, the store gone), the reads stay pending for the next
    // run, and the error that stopped this one is the one reported.
    await writes.flush().catch((flushError: unknown) => {
      ctx.logger.warn(
        { err: flushError, runId: ctx.state.runId },
        'reads by reference done before the run stopped were not written; the next run reads them again',
      );
    });
    throw error;
  }
}
