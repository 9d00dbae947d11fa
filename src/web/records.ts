// What a grant shares, in a patient's words: the done page says "Medications, allergies and
// lab results", not "21 kinds of records", and a wildcard reads as the whole record.
import { parseResourceScope } from '../smart/scopes.ts';

/** Each FHIR type as a patient would name what it holds; types that hold nothing of theirs are absent. */
const WORDS: Record<string, string> = {
  Patient: 'your name, birth date and contact details',
  Condition: 'health conditions',
  AllergyIntolerance: 'allergies',
  MedicationRequest: 'medications',
  MedicationStatement: 'medications',
  MedicationAdministration: 'medications',
  MedicationDispense: 'medications',
  Medication: 'medications',
  Immunization: 'immunizations',
  Observation: 'lab results and vital signs',
  DiagnosticReport: 'test reports',
  Procedure: 'procedures',
  Encounter: 'visits',
  DocumentReference: 'documents and visit notes',
  Binary: 'documents and visit notes',
  CarePlan: 'care plans',
  Goal: 'health goals',
  CareTeam: 'your care team',
  Practitioner: 'your care team',
  PractitionerRole: 'your care team',
  Device: 'implants and medical devices',
  Coverage: 'insurance',
  ServiceRequest: 'orders and referrals',
  FamilyMemberHistory: 'family health history',
  QuestionnaireResponse: 'questionnaires you answered',
  Media: 'images',
};

/** The order the done page lists them in: what people look for first. */
const ORDER = [...new Set(Object.values(WORDS))];

export interface SharedRecords {
  /** A wildcard read scope: the whole record, whatever types the practice holds. */
  everything: boolean;
  /** What was shared, in words, each once, in ORDER. */
  kinds: string[];
}

/** Reads the granted scopes of a connection (SMART v1 and v2 alike). */
export function sharedRecords(grantedScopes: readonly string[]): SharedRecords {
  const found = new Set<string>();
  let everything = false;
  for (const scope of grantedScopes) {
    const parsed = parseResourceScope(scope);
    if (parsed?.context !== 'patient' || !parsed.permissions.includes('r')) continue;
    if (parsed.type === '*') everything = true;
    const words = WORDS[parsed.type];
    if (words) found.add(words);
  }
  return { everything, kinds: ORDER.filter((w) => found.has(w)) };
}

/** "a, b and c" */
export function listInWords(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
