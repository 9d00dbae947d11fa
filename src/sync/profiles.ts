// What the sync needs to know of each vendor beyond the FHIR client's profile: the largest page
// the server gives and how it answers "what changed since". Keyed by the FHIR profile's name.
import type { SearchParams, VendorName } from '../fhir/index.ts';

export type IncrementalParam = '_lastUpdated' | '_since' | 'none';

export interface SyncProfile {
  /** `_count` of every search: the largest page the server serves (larger values are clamped). */
  maxPageSize: number;
  /**
   * How an incremental pass asks for changes: `_lastUpdated=gt<mark>` (FHIR search), `_since`
   * (the history-style parameter some servers take on searches), or not at all (every pass is
   * full, with a diff).
   */
  incremental: IncrementalParam;
  /**
   * Extra searches a whole-record sync needs beyond the FHIR profile's (which are enough for a
   * live read), each merged over the profile's search for the type (patient kept).
   */
  completeness?: Readonly<Record<string, readonly SearchParams[]>>;
  /**
   * References worth following although their type is searched: per type, the elements whose
   * references are read when the searches did not bring the resource. A DiagnosticReport's
   * `result` may name Observations in no category the searches ask for.
   */
  follow?: Readonly<Record<string, readonly string[]>>;
}

const FOLLOW: SyncProfile['follow'] = { DiagnosticReport: ['result'] };

/**
 * CareTeam status (FHIR R4 ValueSet care-team-status). healow refuses a CareTeam search without
 * `status` (as seen on healow), and OR-lists (`status=a,b`) are unconfirmed there, so one
 * search per status: a patient's inactive care teams are part of the record too.
 */
const CARE_TEAM_STATUSES = ['proposed', 'active', 'suspended', 'inactive', 'entered-in-error'];

export const SYNC_PROFILES: Readonly<Record<VendorName, SyncProfile>> = {
  // The eCW facade is HAPI-based: HAPI serves at most 200 per page by default (the simulator's
  // MAX_PAGE_SIZE follows it) and supports `_lastUpdated` on every search. healow's own maximum
  // is undocumented; a smaller one only costs pages, never data (paging follows `next`).
  healow: {
    maxPageSize: 200,
    incremental: '_lastUpdated',
    completeness: { CareTeam: CARE_TEAM_STATUSES.map((status) => ({ status })) },
    follow: FOLLOW,
  },
  // Plain R4 servers: `_lastUpdated` is a common search parameter of every resource (R4 §3.1.1.5).
  generic: { maxPageSize: 200, incremental: '_lastUpdated', follow: FOLLOW },
};

export function syncProfileFor(
  vendor: VendorName,
  overrides: Partial<SyncProfile> = {},
): SyncProfile {
  return { ...SYNC_PROFILES[vendor], ...overrides };
}
