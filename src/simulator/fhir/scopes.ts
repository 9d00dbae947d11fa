// What a token's scopes let it do with one resource type: SMART App Launch v1
// (`patient/Observation.read`, `patient/*.read`) and v2 (`patient/Observation.rs`, with an
// optional category restriction `patient/Observation.rs?category=<system>|<code>`).

import type { TokenCriterion } from '../data/index.ts';

/** Everything of the type, nothing, or only resources in these categories. */
export type Permission = 'all' | 'none' | { categories: TokenCriterion[] };

export interface TypeAccess {
  read: Permission;
  search: Permission;
}

const SCOPE = /^patient\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|[cruds]+)(?:\?(.*))?$/;

/** Parses `system|code` or `code` (FHIR token search syntax). */
export function parseToken(value: string): TokenCriterion {
  const bar = value.indexOf('|');
  if (bar < 0) return { code: value };
  const system = value.slice(0, bar);
  const code = value.slice(bar + 1);
  return { system, ...(code === '' ? {} : { code }) };
}

function grant(current: Permission, added: Permission): Permission {
  if (current === 'all' || added === 'all') return 'all';
  if (added === 'none') return current;
  if (current === 'none') return added;
  return { categories: [...current.categories, ...added.categories] };
}

/** The union of what every scope allows on `type` (scopes are additive). */
export function accessFor(scopes: readonly string[], type: string): TypeAccess {
  let read: Permission = 'none';
  let search: Permission = 'none';
  for (const scope of scopes) {
    const m = SCOPE.exec(scope);
    if (!m) continue;
    const [, scopeType, permissions, query] = m;
    if (scopeType !== '*' && scopeType !== type) continue;
    const v1 = permissions === 'read' || permissions === '*';
    const canRead = v1 || (permissions !== 'write' && permissions!.includes('r'));
    const canSearch = v1 || (permissions !== 'write' && permissions!.includes('s'));
    let permission: Permission = 'all';
    if (query !== undefined) {
      // SMART v2 §"Finer-grained resource constraints": only `category` restrictions are
      // understood; a scope restricted by anything else grants nothing rather than everything.
      const params = new URLSearchParams(query);
      const keys = [...new Set(params.keys())];
      if (keys.length !== 1 || keys[0] !== 'category') continue;
      permission = { categories: params.getAll('category').map(parseToken) };
    }
    if (canRead) read = grant(read, permission);
    if (canSearch) search = grant(search, permission);
  }
  return { read, search };
}

/** The scope a client would need, for error messages. */
export function requiredScope(type: string, action: 'read' | 'search'): string {
  return `patient/${type}.read (or patient/${type}.${action === 'read' ? 'r' : 's'})`;
}
