// searchset Bundles with healow's quirks: `Bundle.total` wrong, no `entry` when empty, links and
// fullUrls on whatever base the caller picked (healow's own plain-http host by default).

import { randomUUID } from 'node:crypto';
import type { SimQuirks } from '../context.ts';
import type { FhirResource } from '../data/index.ts';

export interface SearchsetInput {
  resources: FhirResource[];
  linkBase: string;
  selfUrl: string;
  nextUrl?: string;
  /** Resources served before this page. */
  offset: number;
  /** The real number of matches (a scan of the type's index); called only when sent. */
  total: () => number;
  lastUpdated: string;
  quirks: SimQuirks;
}

/**
 * healow answers `Bundle.total` 50 whatever the count (brief: "e.g. 50 with no entries"). On a
 * last page the real count is known for free; when it is 50, say 51, so the number is wrong.
 */
export function wrongTotal(knownReal: number | undefined): number {
  return knownReal === 50 ? 51 : 50;
}

export function searchset(input: SearchsetInput): Record<string, unknown> {
  const { quirks, resources } = input;
  const lastPage = input.nextUrl === undefined;
  const total = quirks.wrongBundleTotal
    ? wrongTotal(lastPage ? input.offset + resources.length : undefined)
    : input.total();
  const link = [{ relation: 'self', url: input.selfUrl }];
  if (input.nextUrl) link.push({ relation: 'next', url: input.nextUrl });
  const entry = resources.map((resource) => ({
    fullUrl: `${input.linkBase}/${resource.resourceType}/${resource.id}`,
    resource,
    search: { mode: 'match' },
  }));
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: input.lastUpdated },
    type: 'searchset',
    total,
    link,
    // healow leaves `entry` out of an empty searchset; with the quirk off an empty array is sent,
    // as some servers do (clients must take both).
    ...(entry.length > 0 || !quirks.emptyBundleWithoutEntry ? { entry } : {}),
  };
}
