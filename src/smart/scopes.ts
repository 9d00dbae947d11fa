// OAuth scope strings (RFC 6749 §3.3: space-delimited, case-sensitive) and what a token
// response says was granted. A patient may untick scopes at healow: a partial grant is normal.

/** Splits a scope string into its scopes, in order, without empties or duplicates. */
export function parseScope(scope: string | undefined): string[] {
  if (scope === undefined) return [];
  return [...new Set(scope.split(/\s+/).filter((s) => s !== ''))];
}

/** Joins scopes into the wire form (one space between). */
export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ');
}

/**
 * The scopes granted by a token response. RFC 6749 §5.1: `scope` is OPTIONAL when it is
 * identical to the one requested, so an absent `scope` means "what was asked" (`requested` is
 * the code exchange's request, or a refresh's previous grant).
 */
export function grantedScopes(
  requested: readonly string[],
  tokenResponseScope: string | readonly string[] | undefined,
): string[] {
  if (tokenResponseScope === undefined) return [...new Set(requested)];
  return typeof tokenResponseScope === 'string'
    ? parseScope(tokenResponseScope)
    : [...new Set(tokenResponseScope)];
}

/** The requested scopes the patient did not grant (empty when everything was granted). */
export function missingScopes(requested: readonly string[], granted: readonly string[]): string[] {
  const have = new Set(granted);
  return [...new Set(requested)].filter((s) => !have.has(s));
}

/** Whose resources a scope reaches (SMART App Launch 2.0, "Scopes for requesting FHIR resources"). */
export type ScopeContext = 'patient' | 'user' | 'system';

/**
 * A resource scope, v1 (`patient/Observation.read`, `patient/*.*`) or v2 (`patient/*.rs`,
 * `patient/Observation.rs?category=…|laboratory`). `permissions` is always in v2 letters, in
 * the spec's `cruds` order: v1 `read` is `rs`, `write` is `cud`, `*` is `cruds`, as SMART App
 * Launch 2.0 maps the v1 forms onto v2.
 */
export interface ResourceScope {
  context: ScopeContext;
  /** A resource type, or `*` for every type. */
  type: string;
  permissions: string;
  syntax: 'v1' | 'v2';
  /**
   * The v2 restriction by search parameters (SMART App Launch 2.0, "Finer-grained resource
   * constraints using search parameters"), as written after the `?`.
   */
  query?: string;
}

const RESOURCE_SCOPE =
  /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{1,63})\.(read|write|\*|[cruds]+)(?:\?(.+))?$/;
const V2_PERMISSIONS = /^c?r?u?d?s?$/;
/** The v2 letters of write access. */
const WRITE_LETTERS = /[cud]/g;

/** The resource scope `scope` names, or undefined for any other scope (openid, launch/patient). */
export function parseResourceScope(scope: string): ResourceScope | undefined {
  const m = RESOURCE_SCOPE.exec(scope);
  if (!m) return undefined;
  const [, context, type, written, query] = m as unknown as [
    string,
    ScopeContext,
    string,
    string,
    string | undefined,
  ];
  let permissions: string;
  let syntax: 'v1' | 'v2' = 'v1';
  if (written === 'read') permissions = 'rs';
  else if (written === 'write') permissions = 'cud';
  else if (written === '*') permissions = 'cruds';
  else {
    // v2 letters must come in `cruds` order, each at most once (`patient/*.sr` is not a scope).
    if (!V2_PERMISSIONS.test(written)) return undefined;
    permissions = written;
    syntax = 'v2';
  }
  // v1 had no restrictions: a `?` after a v1 permission is not a scope this code understands.
  if (query !== undefined && syntax === 'v1') return undefined;
  return { context, type, permissions, syntax, ...(query === undefined ? {} : { query }) };
}

/**
 * `scope` written in `syntax`, or undefined when that syntax cannot say it (v1 has no `r` without
 * `s`, and no restrictions).
 */
export function formatResourceScope(
  scope: ResourceScope,
  syntax = scope.syntax,
): string | undefined {
  const prefix = `${scope.context}/${scope.type}.`;
  if (syntax === 'v2')
    return `${prefix}${scope.permissions}${scope.query === undefined ? '' : `?${scope.query}`}`;
  if (scope.query !== undefined) return undefined;
  const v1 = { rs: 'read', cud: 'write', cruds: '*' }[scope.permissions];
  return v1 === undefined ? undefined : `${prefix}${v1}`;
}

/** Whether `scope` grants creating, updating or deleting anything. */
export function grantsWrite(scope: ResourceScope): boolean {
  return /[cud]/.test(scope.permissions);
}

/** `scope` with write access taken out, or undefined when nothing is left. */
function readPart(scope: ResourceScope): ResourceScope | undefined {
  const permissions = scope.permissions.replace(WRITE_LETTERS, '');
  return permissions === '' ? undefined : { ...scope, permissions };
}

/**
 * Whether a grant of `broad` includes everything `narrow` grants: same context, the same type or
 * `*`, every permission, and no restriction that `narrow` lacks (a restricted scope grants only
 * the resources its search parameters match).
 */
export function coversScope(broad: ResourceScope, narrow: ResourceScope): boolean {
  return (
    broad.context === narrow.context &&
    (broad.type === '*' || broad.type === narrow.type) &&
    [...narrow.permissions].every((p) => broad.permissions.includes(p)) &&
    (broad.query === undefined || broad.query === narrow.query)
  );
}

export interface LeftOutScope {
  scope: string;
  reason: string;
}

export interface ScopeSelection {
  /** What the authorize request asks for, in order, without duplicates. */
  request: string[];
  /** Wanted scopes asked for in another form: `scope` wanted, `as` requested. */
  rewritten: Array<{ scope: string; as: string; reason: string }>;
  /** Wanted scopes not asked for at all. */
  leftOut: LeftOutScope[];
}

/**
 * The scopes to ask for, given what the registration wants and the server's `scopes_supported`
 * (SMART App Launch 2.0 §"Conformance": "Array of scopes a client may request"). Rules:
 *
 * - Write access is never asked for: this client only reads. A wanted write scope is cut down
 *   to its read part (`patient/X.*` → `patient/X.read`), or left out when it has none.
 * - Without a list, the wanted scopes go as they are.
 * - A wanted scope the server lists goes as it is (the registration's form).
 * - Otherwise a listed scope that covers it and adds no write access goes instead: the
 *   server's form (`patient/*.read`, `patient/*.rs`, or the other syntax version of the same
 *   scope). A listed string is the only form such a server is sure to take (healow fails the
 *   authorize step on any scope it does not list); a wildcard adds types, never write access.
 *   The narrowest such scope wins: one of the wanted type before a wildcard, an unrestricted one
 *   after a restricted one, the wanted syntax version first.
 * - Otherwise, when a listed scope covers it but would add write access (`patient/*.*`,
 *   `patient/*.cruds`), the wanted scope goes in the syntax version the server lists (v2 only
 *   when it lists no v1 resource scope): the spec lets a server take scopes it does not list
 *   ("clients should not consider this an exhaustive list"), and asking for the listed one would
 *   ask for write access.
 * - Anything else (a type, context or non-resource scope the list does not cover) is left out,
 *   with the reason.
 */
export function selectScopes(
  wanted: readonly string[],
  supported: readonly string[] | undefined,
): ScopeSelection {
  const request: string[] = [];
  const rewritten: ScopeSelection['rewritten'] = [];
  const leftOut: LeftOutScope[] = [];
  const ask = (scope: string) => {
    if (!request.includes(scope)) request.push(scope);
  };
  const listed = supported && supported.length > 0 ? supported : undefined;
  const listedScopes = (listed ?? []).flatMap((s) => {
    const parsed = parseResourceScope(s);
    return parsed ? [{ text: s, scope: parsed }] : [];
  });
  const listsV1 = listedScopes.some((l) => l.scope.syntax === 'v1');

  for (const scope of new Set(wanted)) {
    const parsed = parseResourceScope(scope);
    let wantedScope = parsed;
    let text = scope;
    if (parsed && grantsWrite(parsed)) {
      const read = readPart(parsed);
      const readText = read && (formatResourceScope(read) ?? formatResourceScope(read, 'v2'));
      if (!read || !readText) {
        leftOut.push({ scope, reason: 'write access is never requested' });
        continue;
      }
      wantedScope = read;
      text = readText;
    }
    const done = (as: string, reason: string) => {
      ask(as);
      if (as !== scope) rewritten.push({ scope, as, reason });
    };
    if (!listed || listed.includes(text)) {
      done(text, 'write access is never requested');
      continue;
    }
    if (!wantedScope) {
      leftOut.push({ scope, reason: "not in the server's scopes_supported" });
      continue;
    }
    const want = wantedScope;
    const covering = listedScopes.filter((l) => coversScope(l.scope, want));
    // `want` has no write access left, so any write in a listed scope would be added access.
    const readOnly = covering
      .filter((l) => !grantsWrite(l.scope))
      .sort((a, b) => rank(a.scope, want) - rank(b.scope, want));
    const best = readOnly[0];
    if (best) {
      done(best.text, `the server lists ${best.text}, not ${text}`);
      continue;
    }
    if (covering.length > 0) {
      const syntax = listsV1 ? want.syntax : 'v2';
      const form = formatResourceScope(want, syntax) ?? formatResourceScope(want, 'v2') ?? text;
      done(form, `the server lists only ${covering[0]?.text}, which would add write access`);
      continue;
    }
    leftOut.push({ scope, reason: "no scope in the server's scopes_supported covers it" });
  }
  return { request, rewritten, leftOut };
}

/** Lower is narrower: per-type before wildcard, restricted before not, same syntax first. */
function rank(candidate: ResourceScope, wanted: ResourceScope): number {
  return (
    (candidate.type === '*' ? 4 : 0) +
    (candidate.query === undefined && wanted.query !== undefined ? 2 : 0) +
    (candidate.syntax === wanted.syntax ? 0 : 1)
  );
}
