// The few FHIR shapes the simulator's data code needs, kept loose on purpose: a resource is a
// JSON object with a `resourceType`. (The installed @types/fhir is the STU3 package without
// `fhir/r4`, and the simulator must serve whatever a test adds, so nothing stricter is assumed.)

import type { Code } from './terminology.ts';

export interface Meta {
  versionId?: string;
  lastUpdated?: string;
  profile?: string[];
  [key: string]: unknown;
}

export interface FhirResource {
  resourceType: string;
  id?: string;
  meta?: Meta;
  [key: string]: unknown;
}

export interface Reference {
  reference: string;
  display?: string;
}

export interface Coding {
  system?: string;
  code?: string;
  display?: string;
}

export interface CodeableConcept {
  coding?: Coding[];
  text?: string;
}

export function reference(type: string, id: string, display?: string): Reference {
  return display === undefined
    ? { reference: `${type}/${id}` }
    : { reference: `${type}/${id}`, display };
}

/** A CodeableConcept from one or more codes; text is the first code's display. */
export function concept(...codes: Code[]): CodeableConcept {
  return {
    coding: codes.map((c) => ({ system: c.system, code: c.code, display: c.display })),
    text: codes[0]?.display,
  };
}

export function coding(system: string, code: string, display?: string): CodeableConcept {
  return { coding: [display === undefined ? { system, code } : { system, code, display }] };
}

/** A UCUM quantity rounded to the given decimals. */
export function quantity(value: number, unit: string, ucum: string, decimals: number) {
  return { value: round(value, decimals), unit, system: 'http://unitsofmeasure.org', code: ucum };
}

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
