// What the granted scopes let a sync read, per resource type: SMART App Launch v1
// (`patient/Observation.read`, `patient/*.read`) and v2 (`patient/Observation.rs`, optionally
// narrowed by category: `patient/Observation.rs?category=<system>|<code>`, SMART 2.0 §3.0.2.3).

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

const SCOPE = /^(patient|user)\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)(?:\?(.+))?$/;

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
    const m = SCOPE.exec(scope);
    if (!m) continue;
    const [, , scopeType, permissions = '', query] = m;
    if (scopeType !== '*' && scopeType !== type) continue;
    const v1 = permissions === 'read' || permissions === '*';
    const canRead = v1 || (permissions !== 'write' && permissions.includes('r'));
    const canSearch = v1 || (permissions !== 'write' && permissions.includes('s'));
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
    const type = SCOPE.exec(scope)?.[2];
    if (type && type !== '*') out.add(type);
  }
  return [...out];
}

/** Whether any scope grants a wildcard type. */
export function grantsWildcard(scopes: readonly string[]): boolean {
  return scopes.some((s) => SCOPE.exec(s)?.[2] === '*');
}

/** Whether `token` (a search's category value) is one of the allowed categories. */
export function categoryAllowed(allowed: readonly Token[], token: Token): boolean {
  return allowed.some(
    (a) =>
      a.code === token.code &&
      (a.system === undefined || token.system === undefined || a.system === token.system),
  );
}
