// searchset Bundles as each profile writes them. healow: `total` right whenever there are
// entries, the empty result a Bundle with no `entry` and `total` = the `_count` asked, links and
// fullUrls on its own plain-http host, the self link's query in its own (sorted) order, no
// `meta.versionId`. generic: `total` always right, `entry: []`, links on the server's own base.

import { randomUUID } from 'node:crypto';
import type { FhirResource } from '../data/index.ts';
import type { ServerBehaviour } from './profile.ts';

export interface SearchsetInput {
  resources: FhirResource[];
  /** Resources added by `_include` / `_revinclude` (search mode `include`). */
  included?: FhirResource[];
  linkBase: string;
  selfUrl: string;
  nextUrl?: string;
  /** Resources served before this page. */
  offset: number;
  /** The `_count` of the request (what healow puts in an empty result's `total`). */
  count: number;
  /** The real number of matches (a scan of the type's index); called only when sent. */
  total: () => number;
  lastUpdated: string;
  behaviour: ServerBehaviour;
}

/** A resource as the profile sends it: healow strips `meta.versionId`. */
export function asSent(resource: FhirResource, behaviour: ServerBehaviour): FhirResource {
  if (behaviour.versionIds || resource.meta?.versionId === undefined) return resource;
  const { versionId: _versionId, ...meta } = resource.meta;
  return { ...resource, meta };
}

export function searchset(input: SearchsetInput): Record<string, unknown> {
  const { behaviour, resources } = input;
  const empty = resources.length === 0 && input.offset === 0;
  const total = empty && behaviour.emptyTotalIsCount ? input.count : input.total();
  const link = [{ relation: 'self', url: input.selfUrl }];
  if (input.nextUrl) link.push({ relation: 'next', url: input.nextUrl });
  const entryOf = (mode: 'match' | 'include') => (resource: FhirResource) => ({
    fullUrl: `${input.linkBase}/${resource.resourceType}/${resource.id}`,
    resource: asSent(resource, behaviour),
    search: { mode },
  });
  const entry = [
    ...resources.map(entryOf('match')),
    ...(input.included ?? []).map(entryOf('include')),
  ];
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: input.lastUpdated },
    type: 'searchset',
    total,
    link,
    ...(entry.length > 0 || !behaviour.omitEmptyEntry ? { entry } : {}),
  };
}

/**
 * The self link of a first page. healow's lists the parameters sorted by name (HAPI builds it from
 * a sorted map), whatever order the request used; a generic server echoes the request's order.
 */
export function selfLink(
  linkBase: string,
  type: string,
  entries: readonly (readonly [string, string])[],
  ownOrder: boolean,
): string {
  const ordered = ownOrder
    ? [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    : [...entries];
  const query = ordered
    .map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`)
    .join('&');
  return `${linkBase}/${type}${query ? `?${query}` : ''}`;
}
