// What a full sync of a test patient must hold, from the simulator's ground truth: every
// compartment resource of the granted types, and every resource outside the compartment that
// the record points at (by reference or attachment URL), followed transitively. The practice's
// whole staff list is in the ground truth too; members nothing of this patient points at are not
// part of the patient's record. Types the strict simulator has no search for are left out (a
// sync cannot reach them), and each resource is written as the healow profile serves it.

import { REFERENCE_ONLY_TYPES } from '../../../src/fhir/index.ts';

export interface Truth {
  resourceType: string;
  id: string;
  [key: string]: unknown;
}

/** Resource types outside the Patient compartment: read by reference, only those pointed at. */
export const BY_REFERENCE: ReadonlySet<string> = REFERENCE_ONLY_TYPES;

/** Types the strict (healow) simulator has no search for: a sync cannot reach them. */
export const UNSEARCHABLE_AT_HEALOW: ReadonlySet<string> = new Set(['Provenance']);

/** Which types a grant lets a patient app read. */
export interface Granted {
  has(type: string): boolean;
}

/**
 * Read scopes (SMART v1 `patient/X.read` or `patient/X.*`, v2 `patient/X.rs`, unrestricted) →
 * the granted types; a wildcard type (`patient/*.read`, `patient/*.rs`) grants every type.
 */
export function grantedTypesOf(scopes: readonly string[]): Granted {
  const types = new Set<string>();
  let all = false;
  for (const scope of scopes) {
    const m = /^patient\/(\*|[A-Za-z]+)\.(read|\*|c?r?u?d?s?)$/.exec(scope);
    if (!m || !(m[2] === 'read' || m[2] === '*' || m[2]?.includes('r'))) continue;
    if (m[1] === '*') all = true;
    else types.add(m[1] as string);
  }
  return { has: (type) => all || types.has(type) };
}

/** A resource's JSON as the healow profile sends it: without `meta.versionId`, order kept. */
export function asServed(r: Truth): string {
  const meta = r.meta as Record<string, unknown> | undefined;
  if (meta?.versionId === undefined) return JSON.stringify(r);
  const { versionId: _versionId, ...rest } = meta;
  return JSON.stringify({ ...r, meta: rest });
}

/** `Type/id` → the resource's JSON as served, which the stored text must equal once re-read. */
export function expectedRecord(
  truth: readonly Truth[],
  granted: Granted,
  unreachable: ReadonlySet<string> = UNSEARCHABLE_AT_HEALOW,
): Map<string, string> {
  const key = (r: Truth) => `${r.resourceType}/${r.id}`;
  const expected = new Map<string, string>();
  for (const r of truth) {
    if (
      granted.has(r.resourceType) &&
      !BY_REFERENCE.has(r.resourceType) &&
      !unreachable.has(r.resourceType)
    )
      expected.set(key(r), asServed(r));
  }
  const named = new Set<string>();
  for (const json of expected.values()) collectNamed(json, named);
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of truth) {
      if (!BY_REFERENCE.has(r.resourceType) || !granted.has(r.resourceType)) continue;
      if (expected.has(key(r)) || !named.has(key(r))) continue;
      const json = asServed(r);
      expected.set(key(r), json);
      collectNamed(json, named);
      grew = true;
    }
  }
  return expected;
}

/** `Type/id` right before a closing quote: a reference, or the end of an attachment's URL. */
const NAMED = /([A-Za-z]+\/[A-Za-z0-9\-.]+)"/g;

/**
 * Adds to `named` every `Type/id` that `json` names, so that each resource's text is looked at
 * once (asking the whole record's text for each candidate is quadratic in the record's size).
 */
function collectNamed(json: string, named: Set<string>): void {
  for (const match of json.matchAll(NAMED)) named.add(match[1] as string);
}
