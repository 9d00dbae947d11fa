// Resources read by reference after the searches: what the record points at and cannot be
// searched per patient (Practitioner, Organization, Location, Medication...), and attachments as
// Binary. Each is read once (the store keys them), and what they point at in turn joins the queue.
import { isBridgeError } from '../common/errors.ts';
import type { SyncReference } from '../store/port.ts';
import { checkDeclared, readAttachment } from './binary.ts';
import { findReferences, type Json, toResourceWrite } from './extract.ts';
import { parseJson, readCapped } from './pages.ts';
import { runPool } from './pool.ts';
import { compactJson } from './raw-json.ts';
import type { RunContext } from './run-state.ts';

const BATCH = 100;
/** Answers that end one read, not the sync: not allowed, never there, deleted. */
const PASSING = new Set([403, 404, 410]);

type ReadOutcome =
  | { status: 'read'; resource: Json; json: string }
  | { status: 'skipped'; reason: string };

async function readOne(ctx: RunContext, ref: SyncReference): Promise<ReadOutcome> {
  const { state, signal, target } = ctx;
  if (!ctx.wanted.has(ref.type)) {
    return { status: 'skipped', reason: 'the granted scopes do not allow reading it' };
  }
  if (ref.type === 'Binary') {
    const declared = checkDeclared(ctx.policy, ref);
    if (declared) return { status: 'skipped', reason: declared };
    state.totals.calls++;
    return readAttachment(ctx.fhir, target, ref.id, ctx.policy, signal);
  }
  const what = `GET ${ref.type}/${ref.id}`;
  let text: string;
  try {
    state.totals.calls++;
    const res = await ctx.fhir.request(target, `${ref.type}/${ref.id}`, {
      priority: 'background',
      signal,
    });
    text = await readCapped(res, ctx.maxPageBytes, what, signal);
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

async function readReference(ctx: RunContext, ref: SyncReference): Promise<void> {
  const { state, store, plan, clock } = ctx;
  const progress = state.typeProgress(ref.type);
  progress.status = 'running';
  const outcome = await readOne(ctx, ref);
  const now = clock.now();
  if (outcome.status === 'skipped') {
    if (outcome.reason !== 'the granted scopes do not allow reading it') progress.pages++;
    state.totals.referencesSkipped++;
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
  progress.pages++;
  progress.resources++;
  state.totals.resources++;
  state.totals.referencesRead++;
  state.count(
    await store.resources.savePage({
      connectionId: plan.connectionId,
      practiceBase: ctx.target.base,
      fetchedAt: now,
      source: 'read',
      sweep: null,
      resources: [toResourceWrite(outcome.resource, outcome.json)],
      references: found.references,
      run: { id: state.runId, progress: state.types, updatedAt: now },
    }),
  );
  await store.sync.resolveReference(plan.connectionId, ref.type, ref.id, {
    status: 'done',
    at: now,
  });
  state.report();
}

/** Reads every pending reference, in batches, until none is left (new ones included). */
export async function readReferences(
  ctx: RunContext,
  controller: AbortController,
  concurrency: number,
): Promise<void> {
  for (;;) {
    const batch = await ctx.store.sync.pendingReferences(ctx.plan.connectionId, BATCH);
    if (batch.length === 0) return;
    await runPool(batch, concurrency, controller, (ref) => readReference(ctx, ref));
  }
}
