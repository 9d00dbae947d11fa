// The synced-record part of the store port (re-exported by port.ts): resources as the EHR sent
// them, keyed by (connection, type, id), and the sync's own state: checkpoints per search,
// references still to read, and runs. A page of resources and its checkpoint are written in one
// atomic step, so a crash resumes at the page it stopped at with no duplicates.

/** What the sync hands the store for one resource. */
export interface ResourceWrite {
  type: string;
  id: string;
  /** meta.versionId, when the server sent one. */
  versionId: string | null;
  /** meta.lastUpdated as sent (offset kept). */
  lastUpdated: string | null;
  /** meta.lastUpdated as epoch ms (for `_lastUpdated` queries). */
  lastUpdatedMs: number | null;
  /** The type's clinical date as an instant range (Observation.effective[x]); null when none. */
  dateStart: number | null;
  dateEnd: number | null;
  /** The resource's JSON text as the server sent it. */
  json: string;
}

export interface StoredResource extends ResourceWrite {
  connectionId: string;
  /** Provenance: the practice base it came from, when, and from which search (or `read`). */
  practiceBase: string;
  fetchedAt: number;
  source: string;
  /** Set when a full pass no longer found it upstream; the row is kept. */
  deletedAt: number | null;
}

export type SyncPassMode = 'full' | 'incremental';
export type CheckpointStatus = 'pending' | 'running' | 'done' | 'skipped';

/** Where one search of a connection stands. */
export interface SyncCheckpoint {
  connectionId: string;
  /** Stable name of the search, e.g. `Observation?category=laboratory`. */
  searchKey: string;
  type: string;
  status: CheckpointStatus;
  mode: SyncPassMode;
  /** The next page relative to the practice base; null = the first page. */
  nextLink: string | null;
  pagesDone: number;
  resourcesDone: number;
  /** The full pass this search belongs to (resources it sees are stamped with it). */
  sweep: string | null;
  /** The server's time when the pass read its first page (epoch ms): bounds the next mark. */
  passBound: number | null;
  /** The newest meta.lastUpdated the pass has seen so far (epoch ms). */
  seenMax: number | null;
  /** `_lastUpdated` high-water mark for the next incremental pass (epoch ms). */
  highWater: number | null;
  lastFullAt: number | null;
  /** Why the search was skipped (an upstream 4xx), for people. */
  reason: string | null;
  updatedAt: number;
}

export type ReferenceStatus = 'pending' | 'done' | 'skipped';

/** A resource another one points at, read by reference (Practitioner, Binary...). */
export interface SyncReference {
  connectionId: string;
  type: string;
  id: string;
  status: ReferenceStatus;
  /** From the attachment that named it (Binary), checked before reading. */
  contentType: string | null;
  declaredSize: number | null;
  reason: string | null;
  updatedAt: number;
}

/** A reference found on a page; added as pending unless already known. */
export interface ReferenceNote {
  type: string;
  id: string;
  contentType?: string | null;
  declaredSize?: number | null;
}

export type SyncRunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';
export type SyncRunMode = 'auto' | 'full' | 'incremental';
/**
 * How a finished run ended: every type complete (`succeeded`), some types not (`partial`), the
 * run stopped (`failed`), or the grant covers no resource type (`nothing_granted`).
 */
export type SyncRunOutcome = 'succeeded' | 'partial' | 'failed' | 'nothing_granted';
export type TypeStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';
/**
 * How a type ended: all its searches (or reads) done, refused by the server on every query the
 * profile knows for it, out of time, or failed (an upstream error).
 */
export type TypeOutcome = 'complete' | 'unsupported' | 'timed_out' | 'failed';

export interface TypeProgress {
  status: TypeStatus;
  resources: number;
  pages: number;
  /** Set once the type has ended in this run. */
  outcome?: TypeOutcome;
  /** The pass this run made over the type (reference-only types have none). */
  mode?: SyncPassMode;
  /** Upstream requests made for this type (pages and reads). */
  calls?: number;
  inserted?: number;
  updated?: number;
  unchanged?: number;
  /** Rows its full pass marked deleted. */
  deleted?: number;
  /** Resources of this type read by reference. */
  read?: number;
  /** References of this type that were not read (not allowed, gone, refused). */
  skipped?: number;
  /** Why the type did not complete, in words a person can act on. */
  reason?: string;
  /** A fallback the type needed (a refused query answered another way), said plainly. */
  fallback?: string;
}

export interface SyncRunRecord {
  id: string;
  connectionId: string;
  /** As requested. */
  mode: SyncRunMode;
  status: SyncRunStatus;
  startedAt: number;
  finishedAt: number | null;
  progress: Record<string, TypeProgress>;
  /** Totals once the run ended (inserted, updated, deleted, calls...). */
  result: Record<string, unknown> | null;
  /** Machine-readable cause of a failure (`revoked`, `upstream_error`, ...). */
  reason: string | null;
  error: string | null;
  /** How the run ended; null while it runs (and for runs older than outcomes). */
  outcome?: SyncRunOutcome | null;
  updatedAt: number;
}

export type SyncRunPatch = Partial<
  Pick<
    SyncRunRecord,
    'status' | 'finishedAt' | 'progress' | 'result' | 'reason' | 'error' | 'outcome'
  >
> & { updatedAt: number };

/** A query a practice answered with a 400 OperationOutcome, remembered until `expiresAt`. */
export interface SyncRefusal {
  practiceBase: string;
  /** `_lastUpdated`, `Patient?_id`, or a search key (`CarePlan?category=assess-plan`). */
  query: string;
  /** The server's diagnostics. */
  reason: string;
  refusedAt: number;
  expiresAt: number;
}

/** One page of a search: its resources, the references they name, and where the search now stands. */
export interface PageWrite {
  connectionId: string;
  practiceBase: string;
  fetchedAt: number;
  /** The search key, or `read` for resources read by reference. */
  source: string;
  /** Stamped on every resource of the page (full passes); null keeps the rows' stamps. */
  sweep: string | null;
  resources: ResourceWrite[];
  references?: ReferenceNote[];
  /**
   * References this page answers (what `_include` brought): marked done in its transaction, as
   * `resolveReference` would one call and one commit each.
   */
  resolved?: Array<{ type: string; id: string }>;
  /** Saved in the same transaction as the resources. */
  checkpoint?: SyncCheckpoint;
  /** The run's progress, saved with the page. */
  run?: {
    id: string;
    progress: Record<string, TypeProgress>;
    updatedAt: number;
    /**
     * The type whose counts (inserted, updated, unchanged) take this page's, in the progress
     * saved: so a run resumed after a crash has exact counts. `progress` itself is not changed.
     */
    countsFor?: string;
  };
}

export interface PageWriteResult {
  inserted: number;
  /** A new versionId or lastUpdated (or a deleted row seen again). */
  updated: number;
  /** Same versionId and lastUpdated: nothing rewritten. */
  unchanged: number;
}

export type DatePrefix = 'eq' | 'gt' | 'ge' | 'lt' | 'le';

/** A date search value: a prefix and the instant range the value covers, [start, end). */
export interface DateFilter {
  prefix: DatePrefix;
  start: number;
  end: number;
}

/** A token search value: `system|code`, `code` (any system) or `system|` (any code). */
export interface TokenFilter {
  system?: string;
  code?: string;
}

export interface ResourceQuery {
  connectionId: string;
  type: string;
  /** At most this many rows. */
  limit: number;
  /** Keyset cursor: only ids after this one (ids ascending). */
  afterId?: string;
  lastUpdated?: DateFilter[];
  /** The clinical date (date_start/date_end), every filter must hold. */
  date?: DateFilter[];
  /** `code.coding`: each inner list is an OR, the lists are ANDed. */
  code?: TokenFilter[][];
}

export interface ResourceRepository {
  /** Upserts a page's resources, notes its references and saves the checkpoint, atomically. */
  savePage(page: PageWrite): Promise<PageWriteResult>;
  /** A live resource (deleted ones only when asked). */
  get(
    connectionId: string,
    type: string,
    id: string,
    options?: { includeDeleted?: boolean },
  ): Promise<StoredResource | undefined>;
  /** Live resources of one type, ids ascending, filtered. */
  list(query: ResourceQuery): Promise<StoredResource[]>;
  /**
   * Every live resource of the connection (one type, or all by type then id), streamed from the
   * database: memory does not grow with the record. Breaking out of the loop releases it.
   */
  iterate(connectionId: string, options?: { type?: string }): AsyncIterable<StoredResource>;
  /** Live resources per type, types sorted. */
  countByType(connectionId: string): Promise<Record<string, number>>;
  /**
   * The end of a full pass over `type`: rows of searches (not reads) that this sweep did not
   * see get `deletedAt = at`. Returns how many.
   */
  markUnseen(connectionId: string, type: string, sweep: string, at: number): Promise<number>;
  /**
   * Forgets the connection's record: its resources, checkpoints and references, atomically (the
   * patient behind the connection changed). Runs stay, as history. Returns the resources removed.
   */
  forgetRecord(connectionId: string): Promise<number>;
}

export interface SyncStateRepository {
  checkpoints(connectionId: string): Promise<SyncCheckpoint[]>;
  /** Inserts or replaces by (connection, search key), atomically for the list. */
  putCheckpoints(checkpoints: SyncCheckpoint[]): Promise<void>;
  /** Pending references, oldest key first. */
  pendingReferences(connectionId: string, limit: number): Promise<SyncReference[]>;
  /** Ends a pending reference: done, or skipped with a reason. */
  resolveReference(
    connectionId: string,
    type: string,
    id: string,
    outcome: { status: 'done' | 'skipped'; reason?: string | null; at: number },
  ): Promise<void>;
  /** Makes done references of these types pending again (a full pass re-reads them). */
  resetReferences(connectionId: string, types: readonly string[], at: number): Promise<number>;
  references(connectionId: string): Promise<SyncReference[]>;
  /** A duplicate id is BridgeError('conflict'). */
  createRun(run: SyncRunRecord): Promise<void>;
  updateRun(id: string, patch: SyncRunPatch): Promise<void>;
  getRun(id: string): Promise<SyncRunRecord | undefined>;
  /** Newest first. */
  listRuns(connectionId: string, limit: number): Promise<SyncRunRecord[]>;
  /** Marks other `running` runs of the connection `interrupted` (their process died). */
  interruptRuns(connectionId: string, exceptId: string, at: number): Promise<number>;
  /** The practice's refusals that have not expired by `now`. */
  refusals(practiceBase: string, now: number): Promise<SyncRefusal[]>;
  /** Inserts or replaces by (practice base, query). */
  putRefusal(refusal: SyncRefusal): Promise<void>;
}
