// The search parameters of `GET /api/connections/:id/resources/{type}` → a store query:
// `_count` (default 50, max 1000), the paging `_cursor`, `_lastUpdated`, and for Observation
// `code` and `date` (FHIR R4 §3.1.1.4: prefixes eq, gt, ge, lt, le; comma = OR, repeat = AND).
import { BridgeError } from '../common/errors.ts';
import type { DateFilter, DatePrefix, ResourceQuery, TokenFilter } from '../store/port.ts';
import { parseFhirDate } from '../sync/fhir-dates.ts';
import { parseToken } from '../sync/scopes.ts';

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 1000;

/** Parameters each type answers besides `_count`, `_cursor` and `_lastUpdated`. */
const TYPE_PARAMS: Readonly<Record<string, readonly string[]>> = {
  Observation: ['code', 'date'],
};

const COMMON = new Set(['_count', '_cursor', '_lastUpdated', '_format']);
const PREFIXES = new Set<DatePrefix>(['eq', 'gt', 'ge', 'lt', 'le']);

function invalid(message: string): BridgeError {
  return new BridgeError('invalid_request', message);
}

export function parseDateFilter(name: string, value: string): DateFilter {
  const head = value.slice(0, 2);
  const hasPrefix = /^[a-z]{2}/.test(head);
  if (hasPrefix && !PREFIXES.has(head as DatePrefix)) {
    throw invalid(`${name}: the prefix "${head}" is not supported (eq, gt, ge, lt, le)`);
  }
  const range = parseFhirDate(hasPrefix ? value.slice(2) : value);
  if (!range) throw invalid(`${name}: "${value}" is not a FHIR date, dateTime or instant`);
  return { prefix: hasPrefix ? (head as DatePrefix) : 'eq', ...range };
}

function parseCodes(value: string): TokenFilter[] {
  const tokens = value
    .split(',')
    .filter((v) => v.length > 0)
    .map(parseToken);
  if (tokens.length === 0) throw invalid('code: an empty value');
  return tokens;
}

/** `_cursor` is opaque to callers: the last id of the previous page, base64url. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(`1:${lastId}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith('1:') || text.length < 3) throw invalid('_cursor: not a cursor of this API');
  return text.slice(2);
}

/**
 * The store query of a search, `limit` being the page size. Unknown parameters are refused:
 * ignoring one would answer a different question silently.
 */
export function parseResourceSearch(
  connectionId: string,
  type: string,
  params: URLSearchParams,
): ResourceQuery {
  const allowed = new Set([...COMMON, ...(TYPE_PARAMS[type] ?? [])]);
  for (const name of new Set(params.keys())) {
    if (!allowed.has(name)) {
      throw invalid(
        `the search parameter "${name}" is not supported for ${type} (supported: ${[...allowed].filter((n) => n !== '_format').join(', ')})`,
      );
    }
  }
  const countText = params.get('_count');
  let count = DEFAULT_COUNT;
  if (countText !== null) {
    if (!/^\d+$/.test(countText) || Number(countText) < 1) {
      throw invalid('_count: a positive integer');
    }
    count = Math.min(MAX_COUNT, Number(countText));
  }
  const cursor = params.get('_cursor');
  const lastUpdated = params.getAll('_lastUpdated').map((v) => parseDateFilter('_lastUpdated', v));
  const date = params.getAll('date').map((v) => parseDateFilter('date', v));
  const code = params.getAll('code').map(parseCodes);
  return {
    connectionId,
    type,
    limit: count,
    ...(cursor === null ? {} : { afterId: decodeCursor(cursor) }),
    ...(lastUpdated.length > 0 ? { lastUpdated } : {}),
    ...(date.length > 0 ? { date } : {}),
    ...(code.length > 0 ? { code } : {}),
  };
}
