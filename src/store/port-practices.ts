// The practices part of the store port (re-exported by port.ts): the practices fhirbridge knows,
// from healow's endpoint directory, added by an operator or mirrored from config, with health.

export type PracticeSource = 'directory' | 'operator' | 'config';

/** `vanished`: no longer in its source (kept, never deleted); `disabled`: by the operator. */
export type PracticeStatus = 'active' | 'vanished' | 'disabled';

export type PracticeVendor = 'healow' | 'generic';

/** What a source says about a practice: the fields an import or a config sync owns. */
export interface PracticeListing {
  /** healow practice code, or an operator-chosen id. */
  id: string;
  name: string;
  /** FHIR base URL without a trailing slash. */
  base: string;
  vendor: PracticeVendor;
  /** The app registration that connects it; null = the default one for its environment. */
  registration: string | null;
  organizationName: string | null;
  addressLine: string | null;
  city: string | null;
  state: string | null;
  postalCode: string | null;
}

export interface PracticeHealth {
  lastCheckedAt: number | null;
  /** null until the first check. */
  discoveryOk: boolean | null;
  /** Why the last check failed (never a secret); null when it passed. */
  lastError: string | null;
}

export interface PracticeRecord extends PracticeListing {
  source: PracticeSource;
  status: PracticeStatus;
  /** Why the status last changed, for people (e.g. "patient API switched off"). */
  statusReason: string | null;
  health: PracticeHealth;
  /** When the record was first written (imported, added or mirrored). */
  importedAt: number;
  updatedAt: number;
}

export type PracticePatch = Partial<
  Omit<PracticeListing, 'id'> & {
    status: PracticeStatus;
    statusReason: string | null;
    health: PracticeHealth;
    updatedAt: number;
  }
>;

export interface PracticeFilter {
  status?: readonly PracticeStatus[];
  source?: PracticeSource;
}

export interface SkippedListing {
  id: string;
  reason: string;
}

export interface ReplaceSourceResult {
  added: number;
  updated: number;
  unchanged: number;
  /** Active practices of the source that the new listing no longer has, now `vanished`. */
  vanished: number;
  /** Listings not written because their id or base belongs to a practice of another source. */
  skipped: SkippedListing[];
}

export interface PracticeRepository {
  get(id: string): Promise<PracticeRecord | undefined>;
  /**
   * The practice at `base` (exact match). When several records share it, an active one first,
   * then by source: config, operator, directory.
   */
  byBase(base: string): Promise<PracticeRecord | undefined>;
  /** Ordered by name (case-insensitive), then id. */
  list(options: PracticeFilter & { limit: number; offset?: number }): Promise<PracticeRecord[]>;
  count(filter?: PracticeFilter): Promise<number>;
  /**
   * An opaque value that changes whenever a practice is added or any record's `updatedAt`
   * changes (health checks alone do not change it): lets a process notice another one's import
   * cheaply, e.g. to rebuild its search index.
   */
  changeMark(): Promise<string>;
  /** A new practice (an operator's); a duplicate id is BridgeError('conflict'). */
  insert(record: PracticeRecord): Promise<void>;
  /** Applies `patch`; false when no practice has this id. */
  update(id: string, patch: PracticePatch): Promise<boolean>;
  /**
   * Makes the practices of `source` ('directory' or 'config') equal `listings`, atomically (all
   * or nothing): new ids are added as active, known ones updated (a vanished one comes back as
   * active; a disabled one stays disabled), active ones missing from `listings` become
   * `vanished`. Operator practices are never touched. A listing whose id belongs to another
   * live source, or whose base a live practice with another id uses, is skipped. Config takes
   * over directory records with its ids (config wins); any source takes over vanished records.
   */
  replaceSource(
    source: Exclude<PracticeSource, 'operator'>,
    listings: readonly PracticeListing[],
    now: number,
  ): Promise<ReplaceSourceResult>;
}
