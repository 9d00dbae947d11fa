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

/** A typed reference, as healow sends them: `type` beside `reference`. */
export interface Reference {
  reference: string;
  type: string;
  display?: string;
}

/**
 * The text a decimal is written with (FHIR decimals keep their precision: `1.0` is not `1`). Set
 * on the object holding a `value`; symbol-keyed, so JSON.stringify and structuredClone leave it
 * out and only the FHIR serializer (fhir/serialize.ts) writes it.
 */
export const DECIMAL_TEXT: unique symbol = Symbol('simulator.decimalText');

/** A numeric value written with exactly `decimals` digits after the point. */
export function decimalValue(
  value: number,
  decimals: number,
): { value: number; [DECIMAL_TEXT]?: string } {
  const rounded = round(value, decimals);
  return decimals > 0
    ? { value: rounded, [DECIMAL_TEXT]: rounded.toFixed(decimals) }
    : { value: rounded };
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
    ? { reference: `${type}/${id}`, type }
    : { reference: `${type}/${id}`, type, display };
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
  return {
    ...decimalValue(value, decimals),
    unit,
    system: 'http://unitsofmeasure.org',
    code: ucum,
  };
}

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
