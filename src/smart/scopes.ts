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
