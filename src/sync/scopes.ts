// What the granted scopes let a sync read, per resource type: SMART App Launch v1
// (`patient/Observation.read`, `patient/*.read`) and v2 (`patient/Observation.rs`, optionally
// narrowed by category: `patient/Observation.rs?category=<system>|<code>`, SMART 2.0 §3.0.2.3).
// Scopes are read by the one parser of src/smart/scopes.ts.
import { parseResourceScope } from '../smart/scopes.ts';

/** A token as FHIR search writes it: `system|code`, `code`, or `system|`. */
export interface Token {
  system?: string;
  code?: string;
}

/** Everything of a type, nothing, or only resources in these categories. */
export type Permission = 'all' | 'none' | { categories: Token[] };

export interface TypeAccess {
  read: Permission;
  search: Permission;
}

/** A granted scope that reaches the patient's resources (`system/` scopes do not here). */
function patientScope(scope: string) {
  const parsed = parseResourceScope(scope);
  return parsed && parsed.context !== 'system' ? parsed : undefined;
}

export function parseToken(value: string): Token {
  const bar = value.indexOf('|');
  if (bar < 0) return { code: value };
  const system = value.slice(0, bar);
  const code = value.slice(bar + 1);
  return code === '' ? { system } : { system, code };
}

export function formatToken(token: Token): string {
  if (token.system === undefined) return token.code ?? '';
  return `${token.system}|${token.code ?? ''}`;
}

function union(current: Permission, added: Permission): Permission {
  if (current === 'all' || added === 'all') return 'all';
  if (added === 'none') return current;
  if (current === 'none') return added;
  return { categories: [...current.categories, ...added.categories] };
}

/** The union of what every granted scope allows on `type` (scopes add up, never subtract). */
export function accessFor(scopes: readonly string[], type: string): TypeAccess {
  let read: Permission = 'none';
  let search: Permission = 'none';
  for (const scope of scopes) {
    const parsed = patientScope(scope);
    if (!parsed || (parsed.type !== '*' && parsed.type !== type)) continue;
    const { permissions, query } = parsed;
    const canRead = permissions.includes('r');
    const canSearch = permissions.includes('s');
    let permission: Permission = 'all';
    if (query !== undefined) {
      // Only category restrictions are understood; any other restriction grants nothing
      // here rather than everything.
      const params = new URLSearchParams(query);
      const keys = [...new Set(params.keys())];
      if (keys.length !== 1 || keys[0] !== 'category') continue;
      permission = {
        categories: params
          .getAll('category')
          .flatMap((v) => v.split(','))
          .map(parseToken),
      };
    }
    if (canRead) read = union(read, permission);
    if (canSearch) search = union(search, permission);
  }
  return { read, search };
}

/** The resource types named by the scopes (`*` excluded). */
export function namedTypes(scopes: readonly string[]): string[] {
  const out = new Set<string>();
  for (const scope of scopes) {
    const type = patientScope(scope)?.type;
    if (type && type !== '*') out.add(type);
  }
  return [...out];
}

/** Whether any scope grants a wildcard type. */
export function grantsWildcard(scopes: readonly string[]): boolean {
  return scopes.some((s) => patientScope(s)?.type === '*');
}

/** Whether `token` (a search's category value) is one of the allowed categories. */
export function categoryAllowed(allowed: readonly Token[], token: Token): boolean {
  return allowed.some(
    (a) =>
      a.code === token.code &&
      (a.system === undefined || token.system === undefined || a.system === token.system),
  );
}

/**
 * The types the scopes let a sync read or search: those they name, and every one of
 * `wildcardTypes` when a scope grants `*`. Empty means the grant covers no resource type.
 */
export function grantedTypes(
  scopes: readonly string[],
  wildcardTypes: readonly string[],
): string[] {
  const candidates = new Set(namedTypes(scopes));
  if (grantsWildcard(scopes)) for (const type of wildcardTypes) candidates.add(type);
  return [...candidates].filter((type) => {
    const access = accessFor(scopes, type);
    return access.read !== 'none' || access.search !== 'none';
  });
}
