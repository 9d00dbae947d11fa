// Which searches each resource type answers. healow's "eCW FHIR Facade" is a HAPI plain server:
// every search is a method with declared required and optional parameters, and a request whose
// parameter names match no method is a 400. The generic profile is a permissive server that takes
// any parameter it knows for the type.

import type { SimQuirks } from '../context.ts';
import { SEARCH_PARAMS } from '../data/index.ts';

/** One declared search method: a request matches when it has every required name and no other. */
export interface ParameterSet {
  required: readonly string[];
  optional: readonly string[];
  /** `seen`: observed on the healow sandbox; `assumed`: not observed, modelled on `source`. */
  evidence: 'seen' | 'assumed';
  source: string;
}

/** HAPI's count parameter: accepted by every search method that declares paging. */
export const COUNT_PARAM = '_count';

const SEEN = 'observed on the healow sandbox (the same search without it is a 400)';
const US_CORE = "US Core 3.1.1's mandatory search for the type";
const LISTED = 'listed in scopes_supported, never seen answering; a plain patient search assumed';
const READ_SCOPE =
  'its read scope works on the sandbox; not in US Core 3.1.1, a plain patient search assumed';

const byPatient = (optional: string[], source = US_CORE): ParameterSet => ({
  required: ['patient'],
  optional,
  evidence: 'assumed',
  source,
});

/**
 * healow's search methods by type. A type missing here has no search method at all (read by
 * reference only), which HAPI also answers with a 400.
 */
export const HEALOW_PARAMETER_SETS: Readonly<Record<string, readonly ParameterSet[]>> = {
  AllergyIntolerance: [byPatient(['clinical-status'])],
  CarePlan: [
    {
      required: ['patient', 'category'],
      optional: ['date', 'status'],
      evidence: 'seen',
      source: SEEN,
    },
  ],
  CareTeam: [{ required: ['patient', 'status'], optional: [], evidence: 'seen', source: SEEN }],
  Condition: [byPatient(['category', 'clinical-status', 'code', 'onset-date'])],
  Coverage: [byPatient([], LISTED)],
  Device: [byPatient(['type'])],
  DiagnosticReport: [byPatient(['category', 'code', 'date', 'status'])],
  DocumentReference: [byPatient(['category', 'type', 'date', 'status'])],
  Encounter: [byPatient(['class', 'type', 'date', 'status'])],
  FamilyMemberHistory: [byPatient([], LISTED)],
  Goal: [byPatient(['lifecycle-status', 'target-date'])],
  Immunization: [byPatient(['date', 'status'])],
  Media: [byPatient([], LISTED)],
  MedicationAdministration: [byPatient(['status'], READ_SCOPE)],
  MedicationDispense: [byPatient(['status'], LISTED)],
  MedicationRequest: [byPatient(['intent', 'status', 'authoredon'])],
  Observation: [
    {
      required: ['patient', 'category'],
      optional: ['date', 'code', 'status'],
      evidence: 'seen',
      source: SEEN,
    },
    {
      required: ['patient', 'code'],
      optional: ['date'],
      evidence: 'assumed',
      source: "US Core 3.1.1's patient+code search",
    },
  ],
  Patient: [
    {
      required: ['identifier'],
      optional: [],
      evidence: 'assumed',
      source: "US Core 3.1.1's Patient identifier search",
    },
  ],
  Procedure: [byPatient(['code', 'date', 'status'])],
  QuestionnaireResponse: [byPatient(['status'], LISTED)],
  RelatedPerson: [byPatient([], LISTED)],
  ServiceRequest: [byPatient(['category', 'status'], LISTED)],
  Specimen: [byPatient([], LISTED)],
};

/** `Patient?_id=` as healow may or may not declare it. */
const PATIENT_BY_ID: ParameterSet = {
  required: ['_id'],
  optional: [],
  evidence: 'assumed',
  source: 'unconfirmed: the searchPatientById switch',
};

/** Types without a `patient` search parameter: reached by reference, or searched on other fields. */
const NO_PATIENT_PARAM = new Set([
  'Binary',
  'Location',
  'Medication',
  'Organization',
  'Practitioner',
  'PractitionerRole',
  'Questionnaire',
]);

/** The generic server: one method per type taking every parameter it can evaluate, none required. */
export function genericParameterSet(type: string): ParameterSet | undefined {
  const spec = SEARCH_PARAMS[type];
  if (!spec || type === 'Binary') return undefined;
  const optional = [
    ...(NO_PATIENT_PARAM.has(type) || type === 'Patient' ? [] : ['patient', 'subject']),
    '_id',
    '_lastUpdated',
    '_since',
    '_include',
    '_revinclude',
    ...Object.keys(spec.tokens),
    ...(spec.date ? [spec.date.name] : []),
  ];
  return { required: [], optional, evidence: 'assumed', source: 'a permissive FHIR R4 server' };
}

/** healow's methods for `type` with the switched parameters added as the quirks say. */
export function healowParameterSets(type: string, quirks: SimQuirks): ParameterSet[] {
  const declared = [...(HEALOW_PARAMETER_SETS[type] ?? [])];
  if (type === 'Patient' && quirks.searchPatientById === 'accept') declared.push(PATIENT_BY_ID);
  const extra = [
    ...(quirks.searchLastUpdated === 'accept' ? ['_lastUpdated'] : []),
    ...(quirks.searchInclude === 'accept' ? ['_include', '_revinclude'] : []),
  ];
  return declared.map((set) => ({ ...set, optional: [...set.optional, ...extra] }));
}

/** A parameter's name without its modifier (`patient:Patient` → `patient`). */
const baseName = (name: string) => name.split(':')[0] ?? name;

/** The first method the names fit, or undefined (HAPI: "Does not know how to handle …"). */
export function matchParameterSet(
  sets: readonly ParameterSet[],
  names: readonly string[],
): ParameterSet | undefined {
  const given = new Set(names.map(baseName).filter((n) => n !== COUNT_PARAM));
  return sets.find(
    (set) =>
      set.required.every((n) => given.has(n)) &&
      [...given].every((n) => set.required.includes(n) || set.optional.includes(n)),
  );
}

/** HAPI's words for a request no method matches, with the parameter names in the order sent. */
export function unknownParameterSetDiagnostics(names: readonly string[]): string {
  return `Invalid request: Does not know how to handle get operation with parameter [${names.join(',')}]`;
}
