// Which pass each type runs: an interrupted pass is resumed where its checkpoints stand;
// otherwise a new pass starts, full (with a diff that finds deletions) or incremental.
import { randomId } from '../common/random.ts';
import type { Store, SyncCheckpoint, SyncPassMode, SyncRunMode } from '../store/port.ts';
import type { PlannedSearch, SyncPlan } from './plan.ts';
import type { SyncProfile } from './profiles.ts';

/**
 * `full` when asked, when the server has no incremental search, when a search has no mark yet,
 * or (for `auto`) when a search's last full pass is `fullEveryMs` old or older.
 */
export function decideMode(
  requested: SyncRunMode,
  previous: ReadonlyArray<SyncCheckpoint | undefined>,
  incremental: SyncProfile['incremental'],
  now: number,
  fullEveryMs: number,
): SyncPassMode {
  if (requested === 'full' || incremental === 'none') return 'full';
  if (previous.some((c) => c === undefined || c.highWater === null)) return 'full';
  if (
    requested === 'auto' &&
    previous.some((c) => c?.lastFullAt == null || now - c.lastFullAt >= fullEveryMs)
  ) {
    return 'full';
  }
  return 'incremental';
}

/** A search's checkpoint at the start of a pass; the mark and last full time carry over. */
export function freshCheckpoint(
  connectionId: string,
  search: PlannedSearch,
  mode: SyncPassMode,
  pass: string,
  previous: SyncCheckpoint | undefined,
  now: number,
): SyncCheckpoint {
  return {
    connectionId,
    searchKey: search.key,
    type: search.type,
    status: 'pending',
    mode,
    nextLink: null,
    pagesDone: 0,
    resourcesDone: 0,
    sweep: pass,
    passBound: null,
    seenMax: null,
    highWater: previous?.highWater ?? null,
    lastFullAt: previous?.lastFullAt ?? null,
    reason: null,
    updatedAt: now,
  };
}

export interface PreparedPasses {
  /** Every planned search's checkpoint for this run. */
  checkpoints: Map<string, SyncCheckpoint>;
  /** Some type starts a new full pass (its references are read again). */
  startsFull: boolean;
}

/**
 * One pass per type, all its searches together (the diff of a full pass needs all of them).
 * An open pass (a search pending or running) is resumed, unless a `full` run finds it
 * incremental; its searches that are new to the plan join it. New checkpoints are saved.
 */
export async function preparePasses(
  store: Store,
  plan: SyncPlan,
  requested: SyncRunMode,
  now: number,
  fullEveryMs: number,
  /** Types this run already ended (a retry of the run): their checkpoints stay as they are. */
  keep: ReadonlySet<string> = new Set(),
): Promise<PreparedPasses> {
  const existing = new Map(
    (await store.sync.checkpoints(plan.connectionId)).map((c) => [c.searchKey, c]),
  );
  const byType = new Map<string, PlannedSearch[]>();
  for (const s of plan.searches) byType.set(s.type, [...(byType.get(s.type) ?? []), s]);

  const checkpoints = new Map<string, SyncCheckpoint>();
  const changed: SyncCheckpoint[] = [];
  let startsFull = false;
  for (const [type, searches] of byType) {
    const previous = searches.map((s) => existing.get(s.key));
    if (keep.has(type) && previous.every((c) => c !== undefined)) {
      for (const [i, search] of searches.entries()) {
        checkpoints.set(search.key, previous[i] as SyncCheckpoint);
      }
      continue;
    }
    const open = previous.find((c) => c?.status === 'pending' || c?.status === 'running');
    const resume = open !== undefined && !(requested === 'full' && open.mode === 'incremental');
    const mode =
      resume && open
        ? open.mode
        : decideMode(requested, previous, plan.incremental, now, fullEveryMs);
    const pass = resume && open?.sweep ? open.sweep : randomId('pass');
    // A type the server refused last time read nothing then: its new pass re-reads nothing.
    const refusedBefore = previous.every((c) => c?.status === 'skipped');
    if (!resume && mode === 'full' && !refusedBefore) startsFull = true;
    for (const [i, search] of searches.entries()) {
      const c = previous[i];
      if (resume && c?.sweep === pass) {
        checkpoints.set(search.key, c);
        continue;
      }
      const fresh = freshCheckpoint(plan.connectionId, search, mode, pass, c, now);
      checkpoints.set(search.key, fresh);
      changed.push(fresh);
    }
  }
  if (changed.length > 0) await store.sync.putCheckpoints(changed);
  return { checkpoints, startsFull };
}
