// The scopes healow advertises in `scopes_supported`. Requesting anything the list does not
// cover fails the authorize step, so this list is also the authorize check.

import { covers } from '../fhir/scopes.ts';

/** Types whose patient read scopes are known to work on the sandbox. */
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

/** Every scope of healow's per-type `scopes_supported`, v1 `.read` and v2 `.rs` forms. */
export const SCOPES_SUPPORTED: readonly string[] = [
  ...IDENTITY_SCOPES,
  ...[...PATIENT_READ_TYPES, ...EXTRA_LISTED_TYPES].map((t) => `patient/${t}.read`),
  ...[...PATIENT_READ_TYPES, ...EXTRA_LISTED_TYPES].map((t) => `patient/${t}.rs`),
  ...CATEGORY_SCOPES,
];

export type ScopesSupportedStyle = 'per-type' | 'wildcard-v1' | 'wildcard-v2';

/**
 * `scopes_supported` in the style the switch picks: healow's per-type list, or what other servers
 * advertise instead, one wildcard (`patient/*.read`, SMART v1; `patient/*.rs`, SMART v2).
 */
export function scopesSupported(style: ScopesSupportedStyle): readonly string[] {
  switch (style) {
    case 'per-type':
      return SCOPES_SUPPORTED;
    case 'wildcard-v1':
      return [...IDENTITY_SCOPES, 'patient/*.read'];
    case 'wildcard-v2':
      return [...IDENTITY_SCOPES, 'patient/*.rs'];
  }
}

/**
 * Whether the authorize step takes `scope`: it is listed, or a listed scope covers it (a
 * `patient/*.read` server takes `patient/Observation.read`), read as the SMART spec defines.
 */
export function isSupportedScope(scope: string, style: ScopesSupportedStyle = 'per-type'): boolean {
  return scopesSupported(style).some((listed) => covers(listed, scope));
}

/** Splits a space-delimited `scope` parameter (RFC 6749 §3.3), dropping empty items and repeats. */
export function parseScope(value: string): string[] {
  return [...new Set(value.split(' ').filter((s) => s.length > 0))];
}
