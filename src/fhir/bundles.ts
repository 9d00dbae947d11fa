// Reading searchset pages: the shape we rely on (checked), the `next` link, the resources.
// `Bundle.total` is never used: healow reports e.g. 50 on a page with no entries.

import type { Bundle, Resource } from 'fhir/r4.js';
import { BridgeError } from '../common/errors.ts';
import { asOperationOutcome, outcomeText } from './responses.ts';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** An optional member that, when present, is an array whose every element passes `test`. */
function optionalArrayOf(value: unknown, test: (item: unknown) => boolean): boolean {
  return value === undefined || (Array.isArray(value) && value.every(test));
}

const isLink = (link: unknown) =>
  isObject(link) && typeof link.relation === 'string' && typeof link.url === 'string';

const isEntry = (entry: unknown) =>
  isObject(entry) &&
  (entry.resource === undefined ||
    (isObject(entry.resource) && typeof entry.resource.resourceType === 'string')) &&
  (entry.search === undefined ||
    (isObject(entry.search) &&
      (entry.search.mode === undefined || typeof entry.search.mode === 'string')));

/**
 * Whether `body` has the shape paging relies on: a Bundle whose links have a relation and a URL,
 * whose entries are objects with a typed resource and a search mode when they have them. Checked
 * in place (a schema library would copy every entry of every page).
 */
function isBundle(body: unknown): body is Bundle {
  return (
    isObject(body) &&
    body.resourceType === 'Bundle' &&
    optionalArrayOf(body.link, isLink) &&
    optionalArrayOf(body.entry, isEntry)
  );
}

/** The body as a Bundle, or `upstream_error` naming what came instead. */
export function parseBundle(body: unknown, what: string): Bundle {
  // Only what paging relies on is checked; the rest is the server's FHIR as sent.
  if (isBundle(body)) return body;
  const outcome = asOperationOutcome(body);
  const text = outcome ? outcomeText(outcome) : undefined;
  throw new BridgeError(
    'upstream_error',
    `${what}: expected a Bundle${text ? `, got an OperationOutcome: ${text}` : ', got something else'}`,
    { status: 502 },
  );
}

/** The `next` link's URL as the server wrote it (not yet rebased), or undefined on the last page. */
export function nextLink(bundle: Bundle): string | undefined {
  const url = bundle.link?.find((link) => link.relation === 'next')?.url;
  return url?.trim() ? url : undefined;
}

/** The page's resources; OperationOutcome entries (search.mode `outcome`) are warnings, left out. */
export function resourcesOf<T extends Resource = Resource>(bundle: Bundle): T[] {
  const out: T[] = [];
  for (const entry of bundle.entry ?? []) {
    if (entry.search?.mode === 'outcome' || !entry.resource) continue;
    out.push(entry.resource as T);
  }
  return out;
}
