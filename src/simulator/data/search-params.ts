// Which search parameters each resource type answers (besides `_id`, `_lastUpdated`, `_since`,
// `patient`), and how their values are pulled out of a resource, so that the store can index
// every resource once and answer searches without serializing anything.

import type { CodeableConcept, Coding, FhirResource } from './fhir.ts';
import { type InstantRange, parseFhirDate, type UsTimeZone } from './time.ts';

/** A token value as indexed: `system|code` (`|code` without a system). */
export type TokenKey = string;

export interface TypeSearchParams {
  /** Token parameters: name → the resource's `system|code` values. */
  tokens: Record<string, (resource: FhirResource) => TokenKey[]>;
  /** The type's one date parameter (`date`, `onset-date`, `authoredon`, ...), if any. */
  date?: { name: string; get: (resource: FhirResource) => unknown };
}

const asArray = (value: unknown): unknown[] =>
  value === undefined || value === null ? [] : Array.isArray(value) ? value : [value];

function codingKeys(value: unknown): TokenKey[] {
  const out: TokenKey[] = [];
  for (const cc of asArray(value) as CodeableConcept[]) {
    for (const c of asArray(cc?.coding) as Coding[]) {
      if (typeof c?.code === 'string') out.push(`${c.system ?? ''}|${c.code}`);
    }
  }
  return out;
}

const codeKey = (value: unknown): TokenKey[] => (typeof value === 'string' ? [`|${value}`] : []);

function identifierKeys(value: unknown): TokenKey[] {
  const out: TokenKey[] = [];
  for (const i of asArray(value) as { system?: string; value?: string }[]) {
    if (typeof i?.value === 'string') out.push(`${i.system ?? ''}|${i.value}`);
  }
  return out;
}

const field =
  (name: string, extract: (v: unknown) => TokenKey[]) =>
  (r: FhirResource): TokenKey[] =>
    extract(r[name]);

const status = field('status', codeKey);

/** One entry per type the server reads and searches: those with working scopes and the extra listed ones. */
export const SEARCH_PARAMS: Record<string, TypeSearchParams> = {
  AllergyIntolerance: {
    tokens: {
      'clinical-status': field('clinicalStatus', codingKeys),
      code: field('code', codingKeys),
    },
    date: { name: 'date', get: (r) => r.recordedDate },
  },
  Binary: { tokens: {} },
  CarePlan: {
    tokens: { category: field('category', codingKeys), status },
    date: { name: 'date', get: (r) => r.period },
  },
  CareTeam: { tokens: { status } },
  Condition: {
    tokens: {
      category: field('category', codingKeys),
      'clinical-status': field('clinicalStatus', codingKeys),
      code: field('code', codingKeys),
    },
    date: { name: 'onset-date', get: (r) => r.onsetDateTime },
  },
  Coverage: { tokens: { status } },
  Device: { tokens: { type: field('type', codingKeys), status } },
  DiagnosticReport: {
    tokens: { category: field('category', codingKeys), code: field('code', codingKeys), status },
    date: { name: 'date', get: (r) => r.effectiveDateTime ?? r.effectivePeriod },
  },
  DocumentReference: {
    tokens: { category: field('category', codingKeys), type: field('type', codingKeys), status },
    date: { name: 'date', get: (r) => r.date },
  },
  Encounter: {
    tokens: {
      class: (r) => {
        const c = r.class as Coding | undefined;
        return typeof c?.code === 'string' ? [`${c.system ?? ''}|${c.code}`] : [];
      },
      type: field('type', codingKeys),
      status,
    },
    date: { name: 'date', get: (r) => r.period },
  },
  FamilyMemberHistory: { tokens: { status } },
  Goal: {
    tokens: { 'lifecycle-status': field('lifecycleStatus', codeKey) },
    date: {
      name: 'target-date',
      get: (r) => (asArray(r.target) as { dueDate?: string }[])[0]?.dueDate,
    },
  },
  Immunization: {
    tokens: { status, 'vaccine-code': field('vaccineCode', codingKeys) },
    date: { name: 'date', get: (r) => r.occurrenceDateTime },
  },
  Location: { tokens: { status } },
  Media: { tokens: { status } },
  Medication: { tokens: { code: field('code', codingKeys), status } },
  MedicationAdministration: { tokens: { status } },
  MedicationDispense: { tokens: { status } },
  MedicationRequest: {
    tokens: { status, intent: field('intent', codeKey) },
    date: { name: 'authoredon', get: (r) => r.authoredOn },
  },
  Observation: {
    tokens: { category: field('category', codingKeys), code: field('code', codingKeys), status },
    date: {
      name: 'date',
      get: (r) => r.effectiveDateTime ?? r.effectivePeriod ?? r.effectiveInstant,
    },
  },
  Organization: { tokens: { identifier: field('identifier', identifierKeys) } },
  Patient: {
    tokens: { identifier: field('identifier', identifierKeys), gender: field('gender', codeKey) },
    date: { name: 'birthdate', get: (r) => r.birthDate },
  },
  Practitioner: { tokens: { identifier: field('identifier', identifierKeys) } },
  PractitionerRole: { tokens: { specialty: field('specialty', codingKeys) } },
  Procedure: {
    tokens: { code: field('code', codingKeys), status },
    date: { name: 'date', get: (r) => r.performedDateTime ?? r.performedPeriod },
  },
  Provenance: { tokens: {} },
  Questionnaire: { tokens: { status } },
  QuestionnaireResponse: { tokens: { status } },
  RelatedPerson: { tokens: {} },
  ServiceRequest: { tokens: { status, category: field('category', codingKeys) } },
  Specimen: { tokens: {} },
};

export const RESOURCE_TYPES: readonly string[] = Object.keys(SEARCH_PARAMS);

export function isResourceType(type: string): boolean {
  return Object.hasOwn(SEARCH_PARAMS, type);
}

/** The instant range of a FHIR date, dateTime or Period value; undefined when absent or malformed. */
export function rangeOf(value: unknown, zone: UsTimeZone): InstantRange | undefined {
  if (typeof value === 'string') return parseFhirDate(value, zone);
  if (value && typeof value === 'object') {
    const { start, end } = value as { start?: string; end?: string };
    const s = typeof start === 'string' ? parseFhirDate(start, zone) : undefined;
    const e = typeof end === 'string' ? parseFhirDate(end, zone) : undefined;
    if (!s && !e) return undefined;
    // An open-ended period extends without bound (FHIR R4 §2.21.0.8, Period).
    return { start: s?.start ?? Number.NEGATIVE_INFINITY, end: e?.end ?? Number.POSITIVE_INFINITY };
  }
  return undefined;
}

/** What the store keeps of a resource for searching. */
export interface SearchKeys {
  tokens: Readonly<Record<string, readonly TokenKey[]>>;
  date: InstantRange | undefined;
}

export function extractSearchKeys(resource: FhirResource, zone: UsTimeZone): SearchKeys {
  const params = SEARCH_PARAMS[resource.resourceType];
  const tokens: Record<string, TokenKey[]> = {};
  if (params) {
    for (const [name, get] of Object.entries(params.tokens)) {
      const values = get(resource);
      if (values.length > 0) tokens[name] = values;
    }
  }
  const date = params?.date ? rangeOf(params.date.get(resource), zone) : undefined;
  return { tokens, date };
}
