// A parsed FHIR search over one resource type, and how it matches the store's search keys:
// tokens (`system|code`, comma = OR, repeated parameter = AND) and dates with the FHIR
// prefixes eq, ne, gt, lt, ge, le, sa, eb, ap (FHIR R4 §3.1.1.4.2).

import type { SearchKeys, TokenKey } from './search-params.ts';
import type { InstantRange } from './time.ts';

/** `system` undefined: any system; `''`: no system. `code` undefined: any code of the system. */
export interface TokenCriterion {
  system?: string;
  code?: string;
}

export type DatePrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

export interface DateCriterion {
  prefix: DatePrefix;
  range: InstantRange;
}

export interface SearchQuery {
  /** `_id`: any of these ids. */
  ids?: readonly string[];
  /** Token parameters, all must hold (AND); each is an OR of criteria. */
  tokens: readonly { name: string; anyOf: readonly TokenCriterion[] }[];
  /** The type's date parameter, all must hold. */
  dates: readonly DateCriterion[];
  /** `_lastUpdated`, all must hold. */
  lastUpdated: readonly DateCriterion[];
  /** `_since`: changed at or after this instant (epoch ms). */
  since?: number;
}

/** What a slot of the store offers to a query. */
export interface Searchable {
  id: string;
  lastUpdated: number;
  keys: SearchKeys;
}

/** Parses a token search value: `system|code`, `|code` (no system) or `code` (any system). */
export function parseTokenValue(value: string): TokenCriterion {
  const bar = value.indexOf('|');
  if (bar < 0) return { code: value };
  const system = value.slice(0, bar);
  const code = value.slice(bar + 1);
  return { system, ...(code === '' ? {} : { code }) };
}

export function tokenMatches(key: TokenKey, criterion: TokenCriterion): boolean {
  const bar = key.indexOf('|');
  const system = key.slice(0, bar);
  const code = key.slice(bar + 1);
  if (criterion.system !== undefined && criterion.system !== system) return false;
  return criterion.code === undefined || criterion.code === code;
}

/** Whether a value covering `value` satisfies `prefix` against the searched range. */
export function dateMatches(value: InstantRange, criterion: DateCriterion): boolean {
  const { start: rs, end: re } = value;
  const { start: ps, end: pe } = criterion.range;
  switch (criterion.prefix) {
    case 'eq':
      return rs >= ps && re <= pe;
    case 'ne':
      return !(rs >= ps && re <= pe);
    case 'gt':
      return re > pe;
    case 'lt':
      return rs < ps;
    case 'ge':
      return re > ps;
    case 'le':
      return rs < pe;
    case 'sa':
      return rs >= pe;
    case 'eb':
      return re <= ps;
    case 'ap':
      return rs < pe && re > ps;
  }
}

export function matches(item: Searchable, query: SearchQuery): boolean {
  if (query.ids && !query.ids.includes(item.id)) return false;
  if (query.since !== undefined && item.lastUpdated < query.since) return false;
  for (const c of query.lastUpdated) {
    if (!dateMatches({ start: item.lastUpdated, end: item.lastUpdated + 1 }, c)) return false;
  }
  if (query.dates.length > 0) {
    const date = item.keys.date;
    if (!date) return false;
    for (const c of query.dates) if (!dateMatches(date, c)) return false;
  }
  for (const t of query.tokens) {
    const keys = item.keys.tokens[t.name];
    if (!keys?.some((k) => t.anyOf.some((c) => tokenMatches(k, c)))) return false;
  }
  return true;
}
