// Host pinning and link rebasing. The FHIR client sends a token only to URLs on the practice
// base's origin and under its path; healow's `next` links name another host over plain http
// (`http://fhir4.eclinicalworks.com/fhir/r4/CODE?...`), so they are moved onto our base first.
import { BridgeError } from '../common/errors.ts';

/** A practice base URL, checked once: no trailing slash, no credentials, query or fragment. */
export interface PracticeBase {
  readonly url: URL;
  /** `url.pathname` without a trailing slash ('' for a base at the host root). */
  readonly path: string;
  readonly allowHttp: boolean;
}

export function parseBase(base: string, allowHttp = false): PracticeBase {
  let url: URL;
  try {
    url = new URL(base);
  } catch (cause) {
    throw new BridgeError('invalid_config', 'the practice base is not an absolute URL', { cause });
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    throw new BridgeError(
      'host_not_allowed',
      `the practice base ${url.origin} must use https (http only for local development)`,
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new BridgeError(
      'invalid_config',
      'the practice base must not carry credentials, a query or a fragment',
    );
  }
  const path = url.pathname.replace(/\/+$/, '');
  url.pathname = path || '/';
  return { url, path, allowHttp };
}

/** `pathAndQuery` ('Patient/1', '/metadata', '?_getpages=x') appended to the base. */
export function resolveOnBase(base: PracticeBase, pathAndQuery: string): URL {
  const sep = pathAndQuery.startsWith('/') || pathAndQuery.startsWith('?') ? '' : '/';
  const url = new URL(`${base.url.origin}${base.path}${sep}${pathAndQuery}`);
  assertPinned(base, url);
  return url;
}

function isUnderBase(base: PracticeBase, pathname: string): boolean {
  return (
    pathname === base.path || pathname === `${base.path}/` || pathname.startsWith(`${base.path}/`)
  );
}

/**
 * Throws `host_not_allowed` unless `url` is on the base's origin, under its path, and https
 * (or http when the base allows it). Checked before every request that carries the token.
 */
export function assertPinned(base: PracticeBase, url: URL): void {
  const schemeOk = url.protocol === base.url.protocol;
  if (!schemeOk || url.origin !== base.url.origin || url.username || url.password) {
    throw new BridgeError(
      'host_not_allowed',
      `refusing to send the token to ${url.protocol}//${url.host}: only ${base.url.origin} is allowed for this practice`,
    );
  }
  // URL parsing has already resolved `..` and `%2e%2e` segments, so this cannot be escaped.
  if (!isUnderBase(base, url.pathname)) {
    throw new BridgeError(
      'host_not_allowed',
      `refusing to send the token to ${url.pathname}: not under the practice base path ${base.path || '/'}`,
    );
  }
}

/**
 * A `Bundle.link` URL moved onto our base: the part after the base path, and the query, kept;
 * scheme and host replaced. A link whose path is not under the base path cannot be rebased and
 * is refused (`host_not_allowed`): following it would send the token somewhere we did not choose.
 */
export function rebaseLink(base: PracticeBase, link: string): URL {
  let parsed: URL;
  try {
    // A relative link is taken relative to the base, as FHIR's service base URL.
    parsed = new URL(link, `${base.url.origin}${base.path}/`);
  } catch (cause) {
    throw new BridgeError('host_not_allowed', 'the next link is not a URL', { cause });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new BridgeError('host_not_allowed', `the next link has scheme ${parsed.protocol}`);
  }
  if (!isUnderBase(base, parsed.pathname)) {
    throw new BridgeError(
      'host_not_allowed',
      `the next link's path ${parsed.pathname} is not under the practice base path ${base.path || '/'}: not followed`,
    );
  }
  const rest = parsed.pathname.slice(base.path.length).replace(/^\/$/, '');
  const rebased = new URL(`${base.url.origin}${base.path}${rest}${parsed.search}`);
  assertPinned(base, rebased);
  return rebased;
}

/** The request as people read it in logs and errors: `Observation?patient=1&category=vital-signs`. */
export function relativeToBase(base: PracticeBase, url: URL): string {
  const path = url.pathname.slice(base.path.length).replace(/^\//, '');
  return `${path}${url.search}` || '/';
}
