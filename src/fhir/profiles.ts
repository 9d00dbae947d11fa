// Vendor profiles: what differs between EHRs when reading one patient's record. `generic`
// follows plain FHIR R4 / SMART; `healow` adds the eCW FHIR Facade's search requirements.
import { BridgeError } from '../common/errors.ts';

export type VendorName = 'healow' | 'generic';

/** Query parameters of one search, in wire names. */
export type SearchParams = Record<string, string>;

export interface VendorProfile {
  readonly name: VendorName;
  /** The `Accept` header for every FHIR call. */
  readonly accept: string;
  /**
   * The searches that read every `type` resource of one patient: one entry per request.
   * Empty for types that are only reached by reference (Practitioner, Medication, Binary...).
   */
  searchesFor(type: string, patientId: string): SearchParams[];
}

/**
 * HL7 observation-category codes that US Core 3.1.1 profiles use (laboratory, vital-signs,
 * social-history, survey, imaging, procedure, exam, therapy, activity).
 */
export const US_CORE_OBSERVATION_CATEGORIES = [
  'laboratory',
  'vital-signs',
  'social-history',
  'survey',
  'exam',
  'imaging',
  'procedure',
  'therapy',
  'activity',
] as const;

/**
 * Types with no `patient` search parameter: they are read by reference from other resources,
 * never searched per patient (a `Practitioner?patient=X` is a 400 on any FHIR server).
 */
export const REFERENCE_ONLY_TYPES: ReadonlySet<string> = new Set([
  'Binary',
  'Endpoint',
  'HealthcareService',
  'Location',
  'Medication',
  'Organization',
  'Practitioner',
  'PractitionerRole',
  'Questionnaire',
  'Substance',
]);

/** The FHIR R4 way: `Patient?_id=X`, `<Type>?patient=X`. */
function plainSearches(type: string, patientId: string): SearchParams[] {
  if (type === 'Patient') return [{ _id: patientId }];
  if (REFERENCE_ONLY_TYPES.has(type)) return [];
  return [{ patient: patientId }];
}

export const genericProfile: VendorProfile = {
  name: 'generic',
  accept: 'application/fhir+json',
  searchesFor: plainSearches,
};

/**
 * eCW's facade rejects some US Core searches that lack a second parameter, e.g.
 * `Observation?patient=X` → 400 "Does not know how to handle get operation with parameter
 * [patient,_count]" (the refusal healow sends). The extra parameters are the ones US Core 3.1.1
 * makes mandatory for those types.
 */
const HEALOW_EXTRA_PARAMS: Readonly<Record<string, readonly SearchParams[]>> = {
  Observation: US_CORE_OBSERVATION_CATEGORIES.map((category) => ({ category })),
  CarePlan: [{ category: 'assess-plan' }],
  CareTeam: [{ status: 'active' }],
};

export const healowProfile: VendorProfile = {
  name: 'healow',
  // healow answers `application/json+fhir;charset=UTF-8` to this; the client accepts both.
  accept: 'application/fhir+json',
  searchesFor(type, patientId) {
    const extras = HEALOW_EXTRA_PARAMS[type];
    if (!extras) return plainSearches(type, patientId);
    return extras.map((extra) => ({ patient: patientId, ...extra }));
  },
};

const PROFILES: Readonly<Record<VendorName, VendorProfile>> = {
  healow: healowProfile,
  generic: genericProfile,
};

export function isVendorName(name: string): name is VendorName {
  return Object.hasOwn(PROFILES, name);
}

/** The profile named in a practice record or config; an unknown name is a config error. */
export function profileFor(name: string): VendorProfile {
  if (!isVendorName(name)) {
    throw new BridgeError(
      'invalid_config',
      `unknown vendor profile "${name}" (expected one of: ${Object.keys(PROFILES).join(', ')})`,
    );
  }
  return PROFILES[name];
}
