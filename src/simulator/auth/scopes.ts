// The scopes healow advertises in `scopes_supported` (brief: "Scopes"). Requesting anything else
// fails the authorize step, so this list is also the authorize check.

/** Types the sandbox serves with patient read scopes (brief: "Scopes known to work"). */
export const PATIENT_READ_TYPES = [
  'AllergyIntolerance',
  'Binary',
  'CarePlan',
  'CareTeam',
  'Condition',
  'Device',
  'DiagnosticReport',
  'DocumentReference',
  'Encounter',
  'Goal',
  'Immunization',
  'Location',
  'Medication',
  'MedicationAdministration',
  'MedicationRequest',
  'Observation',
  'Organization',
  'Patient',
  'Practitioner',
  'PractitionerRole',
  'Procedure',
  'Provenance',
] as const;

/** Also listed in `scopes_supported`, though not known to return data. */
export const EXTRA_LISTED_TYPES = [
  'Coverage',
  'ServiceRequest',
  'Specimen',
  'MedicationDispense',
  'QuestionnaireResponse',
  'Questionnaire',
  'RelatedPerson',
  'FamilyMemberHistory',
  'Media',
] as const;

const OBSERVATION_CATEGORIES = 'http://terminology.hl7.org/CodeSystem/observation-category';
const CONDITION_CATEGORIES = 'http://terminology.hl7.org/CodeSystem/condition-category';

/** SMART v2 category-restricted forms that healow lists. */
const CATEGORY_SCOPES = [
  ...['laboratory', 'vital-signs', 'social-history', 'survey', 'exam'].map(
    (c) => `patient/Observation.rs?category=${OBSERVATION_CATEGORIES}|${c}`,
  ),
  ...['problem-list-item', 'encounter-diagnosis'].map(
    (c) => `patient/Condition.rs?category=${CONDITION_CATEGORIES}|${c}`,
  ),
];

export const IDENTITY_SCOPES = ['openid', 'fhirUser', 'offline_access', 'launch/patient'] as const;

/** Every scope of healow's `scopes_supported`, v1 `.read` and v2 `.rs` forms. */
export const SCOPES_SUPPORTED: readonly string[] = [
  ...IDENTITY_SCOPES,
  ...[...PATIENT_READ_TYPES, ...EXTRA_LISTED_TYPES].map((t) => `patient/${t}.read`),
  ...[...PATIENT_READ_TYPES, ...EXTRA_LISTED_TYPES].map((t) => `patient/${t}.rs`),
  ...CATEGORY_SCOPES,
];

const supported = new Set(SCOPES_SUPPORTED);

export function isSupportedScope(scope: string): boolean {
  return supported.has(scope);
}

/** Splits a space-delimited `scope` parameter (RFC 6749 §3.3), dropping empty items and repeats. */
export function parseScope(value: string): string[] {
  return [...new Set(value.split(' ').filter((s) => s.length > 0))];
}
