// What one sync run carries while it goes: per-type progress and outcome, totals, what it
// skipped, and the context every step of the run reads (target, plan, checkpoints, signal).
// Counts live per type and are saved with every page, so a run resumed after a failed attempt
// or a crash adds to them instead of starting from zero: the totals of the end are exact.

import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { Timers } from '../common/timers.ts';
import type { FhirClient, FhirTarget } from '../fhir/index.ts';
import type { PracticeBase } from '../fhir/urls.ts';
import type {
  PageWriteResult,
  Store,
  SyncCheckpoint,
  SyncPassMode,
  TypeProgress,
} from '../store/port.ts';
import type { AttachmentPolicy } from './binary.ts';
import type { Skip } from './extract.ts';
import type { SyncPlan } from './plan.ts';
import type { Refusals } from './refusals.ts';

/** The passes a run made: all full, all incremental, or some of each. */
export type RunPassMode = SyncPassMode | 'mixed';

/** What a run reports while it goes (after every page) and what its job keeps. */
export interface SyncProgress {
  runId: string;
  connectionId: string;
  /** The passes of the types that ran a pass so far. */
  mode: RunPassMode;
  types: Record<string, TypeProgress>;
  startedAt: number;
}

export interface SyncTotals {
  /** Resources received (searches and reads). */
  resources: number;
  inserted: number;
  updated: number;
  unchanged: number;
  /** Rows a full pass marked deleted. */
  deleted: number;
  pages: number;
  /** Upstream requests the run made (pages and reads; the client's own retries not counted). */
  calls: number;
  referencesRead: number;
  referencesSkipped: number;
}

const MAX_SKIPS = 100;

/** The totals of a run: the sums of its types' counts. */
export function totalsOf(types: Readonly<Record<string, TypeProgress>>): SyncTotals {
  const totals: SyncTotals = {
    resources: 0,
    inserted: 0,
    updated: 0,
    unchanged: 0,
    deleted: 0,
    pages: 0,
    calls: 0,
    referencesRead: 0,
    referencesSkipped: 0,
  };
  for (const t of Object.values(types)) {
    totals.resources += t.resources;
    totals.pages += t.pages;
    totals.inserted += t.inserted ?? 0;
    totals.updated += t.updated ?? 0;
    totals.unchanged += t.unchanged ?? 0;
    totals.deleted += t.deleted ?? 0;
    totals.calls += t.calls ?? 0;
    totals.referencesRead += t.read ?? 0;
    totals.referencesSkipped += t.skipped ?? 0;
  }
  return totals;
}

/** The run's mode from its types' passes; `incremental` when no type ran a pass. */
export function modeOf(types: Readonly<Record<string, TypeProgress>>): RunPassMode {
  // A type the server refused read nothing: its pass says nothing of the run's.
  const modes = new Set(
    Object.values(types).flatMap((t) => (t.mode && t.outcome !== 'unsupported' ? [t.mode] : [])),
  );
  if (modes.size > 1) return 'mixed';
  return modes.has('full') ? 'full' : 'incremental';
}

export class RunState {
  readonly types: Record<string, TypeProgress>;
  readonly skipped: Skip[] = [];
  /** The last save of the run's progress (see `save`). */
  private saving: Promise<void> = Promise.resolve();

  constructor(
    readonly runId: string,
    readonly connectionId: string,
    readonly startedAt: number,
    private readonly logger: Logger,
    private readonly listener?: (progress: SyncProgress) => void,
    /** The progress an earlier attempt of this run saved (a retry goes on from it). */
    resumed: Record<string, TypeProgress> = {},
  ) {
    this.types = structuredClone(resumed);
  }

  typeProgress(type: string): TypeProgress {
    let progress = this.types[type];
    if (!progress) {
      progress = { status: 'pending', resources: 0, pages: 0 };
      this.types[type] = progress;
    }
    return progress;
  }

  get totals(): SyncTotals {
    return totalsOf(this.types);
  }

  get mode(): RunPassMode {
    return modeOf(this.types);
  }

  /** One upstream request made for `type`. */
  call(type: string): void {
    const p = this.typeProgress(type);
    p.calls = (p.calls ?? 0) + 1;
  }

  /** Keeps the first 100 skips for the result; every one is logged. */
  skip(entry: Skip): void {
    if (this.skipped.length < MAX_SKIPS) this.skipped.push(entry);
    this.logger.info(
      { connectionId: this.connectionId, runId: this.runId, skipped: entry },
      'sync skipped something',
    );
  }

  /**
   * Runs `save` (a write that stores `types` with the run) after every save started before it
   * has ended, counts included. A page's counts join `types` once its transaction committed: a
   * save that began in between would store `types` without them (the store adds only its own
   * page's), and a process killed before the next save would resume from that progress, short
   * of those counts.
   */
  save<T>(save: () => Promise<T>): Promise<T> {
    const turn = this.saving.then(save);
    this.saving = turn.then(
      () => undefined,
      () => undefined,
    );
    return turn;
  }

  count(type: string, result: PageWriteResult): void {
    const p = this.typeProgress(type);
    p.inserted = (p.inserted ?? 0) + result.inserted;
    p.updated = (p.updated ?? 0) + result.updated;
    p.unchanged = (p.unchanged ?? 0) + result.unchanged;
  }

  progress(): SyncProgress {
    return {
      runId: this.runId,
      connectionId: this.connectionId,
      mode: this.mode,
      types: structuredClone(this.types),
      startedAt: this.startedAt,
    };
  }

  /** Tells the listener; a listener that throws never stops the sync. */
  report(): void {
    if (!this.listener) return;
    try {
      this.listener(this.progress());
    } catch (error) {
      this.logger.warn({ err: error, runId: this.runId }, 'a sync progress listener threw');
    }
  }
}

/** Everything the steps of one run share. */
export interface RunContext {
  store: Store;
  fhir: FhirClient;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  target: FhirTarget;
  base: PracticeBase;
  plan: SyncPlan;
  /** Types read by reference (the plan's), as a set. */
  wanted: ReadonlySet<string>;
  /** Types a followed reference may name (the grant allows reading them). */
  readable: ReadonlySet<string>;
  /** Where each search of the run stands (updated as pages are written). */
  checkpoints: Map<string, SyncCheckpoint>;
  state: RunState;
  /** The run's signal: aborted when the run stops (the caller, or a failure that ends it). */
  signal: AbortSignal;
  policy: AttachmentPolicy;
  maxPageBytes: number;
  maxPagesPerSearch: number;
  /** Per attempt of each upstream request. */
  requestTimeoutMs: number;
  /** How long one type's searches may take in one run. */
  typeDeadlineMs: number;
  /** What this practice refused, remembered across syncs. */
  refusals: Refusals;
  /** Types whose searches go without `_include` for the rest of this run (refused once). */
  withoutInclude: Set<string>;
  /** Awaited before each write of resources (the job's lease check); a throw stops the run. */
  beforeWrite?: () => Promise<void>;
}
