// A FHIR search request as the query string has it → a SearchQuery for the store, with the
// page size clamped and every malformed parameter reported (as a 400 OperationOutcome).

import { z } from 'zod';
import {
  type DateCriterion,
  SEARCH_PARAMS,
  type SearchQuery,
  type TokenCriterion,
} from '../data/index.ts';
import { type DatePrefix, parseTokenValue } from '../data/query.ts';
import { parseFhirDate, type UsTimeZone } from '../data/time.ts';

/** Page size when `_count` is absent (HAPI's default). */
export const DEFAULT_PAGE_SIZE = 50;
/** Largest page served; a larger `_count` is clamped to it. */
export const MAX_PAGE_SIZE = 200;

export interface PageLimits {
  defaultPageSize: number;
  maxPageSize: number;
}

/** Query strings as fastify parses them: repeated parameters become arrays. */
export const rawQuerySchema = z.record(z.string(), z.union([z.string(), z.array(z.string())]));
export type RawQuery = z.infer<typeof rawQuerySchema>;

/** Parameters that shape the response, not the result set; never part of a search. */
const CONTROL = new Set([
  '_count',
  '_format',
  '_pretty',
  '_summary',
  '_elements',
  '_getpages',
  '_getpagesoffset',
  '_bundletype',
  'page',
]);

export interface ParsedSearch {
  query: SearchQuery;
  count: number;
  /** Values of `patient` / `subject`, as ids (`Patient/` and base URLs stripped). */
  patients: string[];
  /** The search's own parameters as [name, value] pairs (for paging cursors). */
  params: [string, string][];
}

export class SearchParamError extends Error {}

/** Entries in request order, arrays flattened. */
export function entriesOf(raw: RawQuery): [string, string][] {
  return Object.entries(raw).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((v): [string, string] => [name, v]),
  );
}

const PREFIXES = new Set(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

function dateCriterion(name: string, value: string, zone: UsTimeZone): DateCriterion {
  const prefix = (PREFIXES.has(value.slice(0, 2)) ? value.slice(0, 2) : 'eq') as DatePrefix;
  const text = PREFIXES.has(value.slice(0, 2)) ? value.slice(2) : value;
  const range = parseFhirDate(text, zone);
  if (!range) throw new SearchParamError(`Invalid date/time value for ${name}: "${value}"`);
  return { prefix, range };
}

export function parseCount(value: string | undefined, limits: PageLimits): number {
  if (value === undefined) return limits.defaultPageSize;
  const parsed = z.coerce
    .number()
    .int()
    .safeParse(value.trim() === '' ? Number.NaN : value);
  if (!parsed.success) throw new SearchParamError(`Invalid _count value: "${value}"`);
  return Math.min(limits.maxPageSize, Math.max(1, parsed.data));
}

function referenceId(value: string): string {
  const parts = value.split('/');
  return parts[parts.length - 1] ?? value;
}

/**
 * Parses the search parameters of `type`. Which names a search may have is the parameter sets'
 * business (parameter-sets.ts), checked before; a name this does not evaluate is skipped.
 */
export function parseSearch(
  type: string,
  entries: [string, string][],
  zone: UsTimeZone,
  limits: PageLimits,
): ParsedSearch {
  const spec = SEARCH_PARAMS[type];
  const tokens: { name: string; anyOf: TokenCriterion[] }[] = [];
  const dates: DateCriterion[] = [];
  const lastUpdated: DateCriterion[] = [];
  const patients: string[] = [];
  const params: [string, string][] = [];
  let ids: string[] | undefined;
  let since: number | undefined;
  let count: string | undefined;
  for (const [rawName, value] of entries) {
    if (rawName === '_count') count = value;
    if (CONTROL.has(rawName)) continue;
    const [name, modifier] = rawName.split(':') as [string, string | undefined];
    if (
      modifier !== undefined &&
      !(modifier === 'Patient' && (name === 'patient' || name === 'subject'))
    ) {
      throw new SearchParamError(`Unsupported search modifier: ${rawName}`);
    }
    params.push([rawName, value]);
    if (name === 'patient' || name === 'subject') {
      patients.push(...value.split(',').map(referenceId));
    } else if (name === '_id') {
      const list = value.split(',').filter((v) => v.length > 0);
      ids = ids ? ids.filter((id) => list.includes(id)) : list;
    } else if (name === '_lastUpdated') {
      lastUpdated.push(dateCriterion(name, value, zone));
    } else if (name === '_since') {
      const c = dateCriterion(name, value, zone);
      since = Math.max(since ?? Number.NEGATIVE_INFINITY, c.range.start);
    } else if (spec?.tokens[name]) {
      const anyOf = value
        .split(',')
        .filter((v) => v.length > 0)
        .map(parseTokenValue);
      if (anyOf.length === 0) throw new SearchParamError(`Empty value for ${name}`);
      tokens.push({ name, anyOf });
    } else if (spec?.date?.name === name) {
      dates.push(dateCriterion(name, value, zone));
    }
  }
  return {
    query: {
      ...(ids ? { ids } : {}),
      tokens,
      dates,
      lastUpdated,
      ...(since !== undefined ? { since } : {}),
    },
    count: parseCount(count, limits),
    patients,
    params,
  };
}
