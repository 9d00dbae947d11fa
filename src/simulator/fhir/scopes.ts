// SMART App Launch resource scopes, read from the specification on its own terms (STU 2.2
// "Scopes and Launch Context"): what a token may do with a resource type, and whether one scope
// is covered by another (the authorize step checks requests against `scopes_supported`).

import { parseTokenValue, type TokenCriterion } from '../data/query.ts';

/**
 * The five v2 interactions: create, read, update, delete, search. A v2 suffix lists a subset of
 * them in exactly this order (`.rs` is valid, `.sr` is not).
 */
const INTERACTIONS = ['c', 'r', 'u', 'd', 's'] as const;
export type Interaction = (typeof INTERACTIONS)[number];

/** v1 suffixes and the v2 interactions each stands for (the spec's backwards-compatibility table). */
const V1_SUFFIXES: Record<string, readonly Interaction[]> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

/** One parsed resource scope, e.g. `patient/Observation.rs?category=…|laboratory`. */
export interface ResourceScope {
  /** `patient/`, `user/` or `system/`: whose data the scope reaches. */
  level: 'patient' | 'user' | 'system';
  /** A FHIR resource type or `*` (every type). */
  resourceType: string;
  interactions: ReadonlySet<Interaction>;
  /** v1 (`.read`, `.write`, `.*`) or v2 (`.cruds` subsets). */
  syntax: 'v1' | 'v2';
  /** v2 finer-grained constraints (`?category=…`), as name/value pairs; empty when none. */
  constraints: readonly (readonly [string, string])[];
}

const RESOURCE_SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]*)\.([^?]+)(?:\?(.+))?$/;

/** Parses a resource scope; undefined for identity scopes, launch scopes and malformed text. */
export function parseResourceScope(text: string): ResourceScope | undefined {
  const m = RESOURCE_SCOPE.exec(text);
  if (!m) return undefined;
  const [, level, resourceType, suffix, query] = m as unknown as [
    string,
    ResourceScope['level'],
    string,
    string,
    string | undefined,
  ];
  const v1 = V1_SUFFIXES[suffix];
  if (v1) {
    // Constraints are a v2 feature: `patient/Observation.read?category=…` is no scope at all.
    if (query !== undefined) return undefined;
    return { level, resourceType, interactions: new Set(v1), syntax: 'v1', constraints: [] };
  }
  const interactions = v2Interactions(suffix);
  if (!interactions) return undefined;
  const constraints = query === undefined ? [] : [...new URLSearchParams(query).entries()];
  return { level, resourceType, interactions, syntax: 'v2', constraints };
}

/** `cruds` subsets in order, no repeats, not empty; undefined for anything else. */
function v2Interactions(suffix: string): Set<Interaction> | undefined {
  const out = new Set<Interaction>();
  let position = 0;
  for (const letter of suffix) {
    const at = INTERACTIONS.indexOf(letter as Interaction, position);
    if (at < 0) return undefined;
    out.add(letter as Interaction);
    position = at + 1;
  }
  return out.size > 0 ? out : undefined;
}

/** Everything of the type, nothing, or only resources in these categories. */
export type Permission = 'all' | 'none' | { categories: TokenCriterion[] };

export interface TypeAccess {
  read: Permission;
  search: Permission;
}

function widen(current: Permission, added: Permission): Permission {
  if (current === 'all' || added === 'all') return 'all';
  if (added === 'none') return current;
  if (current === 'none') return added;
  return { categories: [...current.categories, ...added.categories] };
}

/**
 * What a patient-facing token may read and search of `type`. Scopes add up (the spec: "the
 * union of the permissions"); only `patient/` scopes count, since every token here is a patient's.
 * A constrained scope narrows to the categories it names; a constraint on anything but
 * `category` is not understood and so grants nothing rather than everything.
 */
export function accessFor(scopes: readonly string[], type: string): TypeAccess {
  let read: Permission = 'none';
  let search: Permission = 'none';
  for (const text of scopes) {
    const scope = parseResourceScope(text);
    if (scope?.level !== 'patient') continue;
    if (scope.resourceType !== '*' && scope.resourceType !== type) continue;
    let permission: Permission = 'all';
    if (scope.constraints.length > 0) {
      if (scope.constraints.some(([name]) => name !== 'category')) continue;
      permission = { categories: scope.constraints.map(([, value]) => parseTokenValue(value)) };
    }
    if (scope.interactions.has('r')) read = widen(read, permission);
    if (scope.interactions.has('s')) search = widen(search, permission);
  }
  return { read, search };
}

/**
 * Whether a server that lists `listed` in `scopes_supported` supports a request for `requested`:
 * the same text, or a resource scope of the same level and syntax whose type (or `*`) and
 * interactions include the request's, unconstrained or with the very same constraints. v1 and v2
 * forms do not stand in for each other: a server that lists only `patient/*.rs` advertises no v1.
 */
export function covers(listed: string, requested: string): boolean {
  if (listed === requested) return true;
  const l = parseResourceScope(listed);
  const r = parseResourceScope(requested);
  if (!l || !r) return false;
  if (l.level !== r.level || l.syntax !== r.syntax) return false;
  if (l.resourceType !== '*' && l.resourceType !== r.resourceType) return false;
  for (const i of r.interactions) if (!l.interactions.has(i)) return false;
  if (l.constraints.length === 0) return true;
  const key = (c: readonly (readonly [string, string])[]) =>
    JSON.stringify(c.map(([n, v]) => `${n}=${v}`).sort());
  return key(l.constraints) === key(r.constraints);
}

/** The scope a client would need, for error messages. */
export function requiredScope(type: string, action: 'read' | 'search'): string {
  return `patient/${type}.read (or patient/${type}.${action === 'read' ? 'r' : 's'})`;
}
