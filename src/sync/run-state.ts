// What one sync run carries while it goes: per-type progress, totals, what it skipped, and the
// context every step of the run reads (target, plan, checkpoints, abort signal).
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
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

/** What a run reports while it goes (after every page) and what its job keeps. */
export interface SyncProgress {
  runId: string;
  connectionId: string;
  /** `full` when any type runs a full pass, else `incremental`. */
  mode: SyncPassMode;
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

export class RunState {
  readonly types: Record<string, TypeProgress> = {};
  readonly totals: SyncTotals = {
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
  readonly skipped: Skip[] = [];
  mode: SyncPassMode = 'incremental';

  constructor(
    readonly runId: string,
    readonly connectionId: string,
    readonly startedAt: number,
    private readonly logger: Logger,
    private readonly listener?: (progress: SyncProgress) => void,
  ) {}

  typeProgress(type: string): TypeProgress {
    let progress = this.types[type];
    if (!progress) {
      progress = { status: 'pending', resources: 0, pages: 0 };
      this.types[type] = progress;
    }
    return progress;
  }

  /** Keeps the first 100 skips for the result; every one is logged. */
  skip(entry: Skip): void {
    if (this.skipped.length < MAX_SKIPS) this.skipped.push(entry);
    this.logger.info(
      { connectionId: this.connectionId, runId: this.runId, skipped: entry },
      'sync skipped something',
    );
  }

  count(result: PageWriteResult): void {
    this.totals.inserted += result.inserted;
    this.totals.updated += result.updated;
    this.totals.unchanged += result.unchanged;
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
  logger: Logger;
  target: FhirTarget;
  base: PracticeBase;
  plan: SyncPlan;
  /** Types read by reference (the plan's), as a set. */
  wanted: ReadonlySet<string>;
  /** Where each search of the run stands (updated as pages are written). */
  checkpoints: Map<string, SyncCheckpoint>;
  state: RunState;
  signal: AbortSignal;
  policy: AttachmentPolicy;
  maxPageBytes: number;
  maxPagesPerSearch: number;
}
