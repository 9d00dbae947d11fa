// The sync plan of a connection: which searches read the patient's record (from the granted
// scopes and the vendor profile's required parameters), which types are read by reference, and
// whether attachments are fetched.
import type { SearchParams, VendorProfile } from '../fhir/index.ts';
import type { SyncProfile } from './profiles.ts';
import {
  accessFor,
  categoryAllowed,
  formatToken,
  grantsWildcard,
  namedTypes,
  parseToken,
  type Token,
} from './scopes.ts';

/**
 * The types a wildcard scope (`patient/*.read`) stands for: US Core 3.1.1 / 6.1.0 types and the
 * others healow lists in `scopes_supported`.
 */
export const KNOWN_TYPES: readonly string[] = [
  'AllergyIntolerance',
  'Binary',
  'CarePlan',
  'CareTeam',
  'Condition',
  'Coverage',
  'Device',
  'DiagnosticReport',
  'DocumentReference',
  'Encounter',
  'FamilyMemberHistory',
  'Goal',
  'Immunization',
  'Location',
  'Media',
  'Medication',
  'MedicationAdministration',
  'MedicationDispense',
  'MedicationRequest',
  'Observation',
  'Organization',
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Procedure',
  'Provenance',
  'QuestionnaireResponse',
  'RelatedPerson',
  'ServiceRequest',
  'Specimen',
];

export interface PlannedSearch {
  /** Stable name of the search within the connection (its checkpoint key). */
  key: string;
  type: string;
  /** Query parameters in wire names, `_count` not included. */
  params: SearchParams;
}

export interface SyncPlan {
  connectionId: string;
  patientId: string;
  practiceBase: string;
  vendor: string;
  pageSize: number;
  incremental: SyncProfile['incremental'];
  searches: PlannedSearch[];
  /** Granted types without a patient search: read when another resource points at them. */
  referenceTypes: string[];
  /** Whether attachments are fetched as Binary (Binary read granted). */
  attachments: boolean;
  /** Per searched type, the elements whose references are followed (profile `follow`). */
  follow: Readonly<Record<string, readonly string[]>>;
  /** Every type the grant allows reading (a followed reference must name one of them). */
  readable: string[];
  /** Every type of the plan, searched types first (Patient leading), for progress. */
  types: string[];
}

export interface PlanInput {
  connectionId: string;
  patientId: string;
  practiceBase: string;
  scopes: readonly string[];
  profile: VendorProfile;
  sync: SyncProfile;
}

/** The key a search's checkpoint is stored under: type and its parameters but the patient. */
export function searchKey(type: string, params: SearchParams): string {
  const extras = Object.entries(params).filter(([name]) => name !== 'patient' && name !== '_id');
  return extras.length === 0 ? type : `${type}?${new URLSearchParams(extras).toString()}`;
}

/** Narrows a type's searches to the categories a v2 scope allows (SMART 2.0 §3.0.2.3). */
function restrictToCategories(searches: SearchParams[], allowed: Token[]): SearchParams[] {
  const kept = searches.filter(
    (s) => s.category !== undefined && categoryAllowed(allowed, parseToken(s.category)),
  );
  const covered = (category: Token) =>
    kept.some((s) => categoryAllowed([category], parseToken(s.category ?? '')));
  const template = searches[0] ?? {};
  const { category: _dropped, ...rest } = template;
  for (const category of allowed) {
    if (!covered(category)) kept.push({ ...rest, category: formatToken(category) });
  }
  return kept;
}

/** The profile's searches with the sync's extra variants (deduplicated by their key). */
function withCompleteness(
  searches: SearchParams[],
  variants: readonly SearchParams[] | undefined,
): SearchParams[] {
  const first = searches[0];
  if (!variants || !first) return searches;
  const all = new Map<string, SearchParams>();
  for (const s of [...searches, ...variants.map((v) => ({ ...first, ...v }))]) {
    all.set(new URLSearchParams(s).toString(), s);
  }
  return [...all.values()];
}

function typeOrder(a: string, b: string): number {
  if (a === b) return 0;
  if (a === 'Patient') return -1;
  if (b === 'Patient') return 1;
  return a.localeCompare(b);
}

export function planSync(input: PlanInput): SyncPlan {
  const { scopes, profile, patientId } = input;
  const candidates = new Set(namedTypes(scopes));
  if (grantsWildcard(scopes)) for (const type of KNOWN_TYPES) candidates.add(type);

  const searches: PlannedSearch[] = [];
  const searchedTypes: string[] = [];
  const referenceTypes: string[] = [];
  const readable: string[] = [];
  for (const type of [...candidates].sort(typeOrder)) {
    const access = accessFor(scopes, type);
    if (access.read !== 'none') readable.push(type);
    const profileSearches = withCompleteness(
      profile.searchesFor(type, patientId),
      input.sync.completeness?.[type],
    );
    if (profileSearches.length === 0) {
      // No patient search for this type: reachable only by reference, if it may be read.
      if (access.read !== 'none') referenceTypes.push(type);
      continue;
    }
    if (access.search === 'none') continue;
    const params =
      access.search === 'all'
        ? profileSearches
        : restrictToCategories(profileSearches, access.search.categories);
    if (params.length === 0) continue;
    searchedTypes.push(type);
    for (const p of params) searches.push({ key: searchKey(type, p), type, params: p });
  }
  return {
    connectionId: input.connectionId,
    patientId,
    practiceBase: input.practiceBase,
    vendor: profile.name,
    pageSize: input.sync.maxPageSize,
    incremental: input.sync.incremental,
    searches,
    referenceTypes,
    attachments: referenceTypes.includes('Binary'),
    follow: Object.fromEntries(
      Object.entries(input.sync.follow ?? {}).filter(([type]) => searchedTypes.includes(type)),
    ),
    readable,
    types: [...searchedTypes, ...referenceTypes],
  };
}
