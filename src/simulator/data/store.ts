// One patient's resources at one practice: an index of small slots (id, version, search keys),
// one array per type in a stable order, and the resources themselves, built from their recipe
// when a page needs them (a 50,000-resource patient costs a few MB, not its JSON). The admin
// API adds, changes and deletes resources here.

import { type Chart, fixedResources, type Generated, withMeta } from './chart.ts';
import type { FhirResource } from './fhir.ts';
import { opaqueId } from './prng.ts';
import { matches, type Searchable, type SearchQuery } from './query.ts';
import { extractSearchKeys, isResourceType, type SearchKeys } from './search-params.ts';
import { buildVisit, buildVisitItem, MAX_ITEMS_PER_VISIT, planVisit, visitTime } from './visits.ts';

export type DataErrorCode = 'not_found' | 'gone' | 'conflict' | 'invalid';

/** A refused data operation (unknown patient, missing resource, duplicate id, bad resource). */
export class DataError extends Error {
  constructor(
    readonly code: DataErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DataError';
  }
}

interface Slot extends Searchable {
  /** Insertion order (increasing, never reused): the stable sort key of searches and paging cursors. */
  seq: number;
  type: string;
  versionId: number;
  deleted: boolean;
  /** `visit * 32 + item` for a generated visit item; -1 when `stored` holds the resource. */
  recipe: number;
  stored: FhirResource | undefined;
}

export interface SearchPage {
  resources: FhirResource[];
  /** Sequence number of the last resource returned: the cursor of the next page. */
  last: number;
  /** Whether another page follows. */
  more: boolean;
  /** The true number of matches (costs a scan of the type; only asked for when needed). */
  total(): number;
}

export type ReadResult =
  | { status: 'found'; resource: FhirResource }
  | { status: 'gone' }
  | { status: 'missing' };

export interface PatientStore {
  readonly chart: Chart;
  /** Matches with `seq > after`, at most `count`, in sequence order. */
  search(
    type: string,
    query: SearchQuery,
    after: number,
    count: number,
    linkBase: string,
  ): SearchPage;
  read(type: string, id: string, linkBase: string): ReadResult;
  /** Every live resource, in type then sequence order (ground truth for tests). */
  all(linkBase: string, type?: string): FhirResource[];
  /** Live resources per type. */
  counts(): Record<string, number>;
  add(resource: FhirResource, now: number): FhirResource;
  replace(resource: FhirResource, now: number): FhirResource;
  /** Bumps the version; `patch` (top-level fields, `null` removes one) is merged in first. */
  change(
    type: string,
    id: string,
    patch: Record<string, unknown>,
    now: number,
    linkBase: string,
  ): FhirResource;
  remove(type: string, id: string, now: number): void;
}

/** How many visits a chart needs to reach `target` resources, and how many items the last one keeps. */
export function layoutVisits(
  chart: Chart,
  target: number | undefined,
  fixedCount: number,
): { visitCount: number; lastVisitItems: number } {
  if (target === undefined) {
    const ageYears = (chart.epoch - chart.birth) / (365.2425 * 86_400_000);
    const visitCount = chart.person.adult ? 36 : Math.max(6, Math.round(ageYears * 2.6));
    return { visitCount, lastVisitItems: MAX_ITEMS_PER_VISIT };
  }
  const remaining = Math.max(0, target - fixedCount);
  let sum = 0;
  for (let v = 0; sum < remaining; v++) {
    const n = planVisit(chart, v).items.length;
    if (sum + n >= remaining) return { visitCount: v + 1, lastVisitItems: remaining - sum };
    sum += n;
  }
  return { visitCount: 0, lastVisitItems: 0 };
}

/** Builds the index of a chart: fixed resources first, then every visit's items, in time order. */
export function createPatientStore(
  chart: Chart,
  resourcesPerPatient: number | undefined,
  indexBase: string,
): PatientStore {
  const fixedCount = fixedResources(chart, () => chart.start).length;
  const { visitCount, lastVisitItems } = layoutVisits(chart, resourcesPerPatient, fixedCount);
  chart.visitCount = visitCount;
  // Fixed resources link to visits (acute problems), so they are built once the visits are laid out.
  const fixed = fixedResources(chart, (v) => visitTime(chart, v));

  const byType = new Map<string, Slot[]>();
  const byKey = new Map<string, Slot>();
  // Many resources share identical token keys (every heart rate): keep one copy of each.
  const interned = new Map<string, SearchKeys['tokens']>();
  let nextSeq = 1;
  let added = 0;

  const keysOf = (resource: FhirResource): SearchKeys => {
    const keys = extractSearchKeys(resource, chart.zone);
    const signature = JSON.stringify(keys.tokens);
    let tokens = interned.get(signature);
    if (!tokens) {
      tokens = keys.tokens;
      interned.set(signature, tokens);
    }
    return { tokens, date: keys.date };
  };

  const insert = (generated: Generated, recipe: number): Slot => {
    const { resource } = generated;
    const type = resource.resourceType;
    const slot: Slot = {
      seq: nextSeq++,
      type,
      id: resource.id as string,
      versionId: generated.versionId,
      lastUpdated: generated.lastUpdated,
      deleted: false,
      keys: keysOf(resource),
      recipe,
      stored: recipe < 0 ? resource : undefined,
    };
    let list = byType.get(type);
    if (!list) {
      list = [];
      byType.set(type, list);
    }
    list.push(slot);
    byKey.set(`${type}/${slot.id}`, slot);
    return slot;
  };

  for (const g of fixed) insert(g, -1);
  for (let v = 0; v < visitCount; v++) {
    const items = buildVisit(
      chart,
      v,
      indexBase,
      v === visitCount - 1 ? lastVisitItems : undefined,
    );
    for (const { k, generated } of items) insert(generated, v * 32 + k);
  }

  const materialize = (slot: Slot, linkBase: string): FhirResource => {
    if (slot.stored) return slot.stored;
    return buildVisitItem(chart, slot.recipe >> 5, slot.recipe & 31, linkBase).resource;
  };

  /** First index in a seq-sorted array whose seq is greater than `after`. */
  const firstAfter = (list: Slot[], after: number): number => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((list[mid] as Slot).seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const live = (type: string, id: string): Slot => {
    const slot = byKey.get(`${type}/${id}`);
    if (!slot) throw new DataError('not_found', `${type}/${id} is not known`);
    if (slot.deleted) throw new DataError('gone', `${type}/${id} was deleted`);
    return slot;
  };

  const validate = (resource: FhirResource): void => {
    if (!resource || typeof resource !== 'object' || typeof resource.resourceType !== 'string') {
      throw new DataError('invalid', 'a resource needs a resourceType');
    }
    if (!isResourceType(resource.resourceType)) {
      throw new DataError('invalid', `unsupported resource type ${resource.resourceType}`);
    }
    if (
      resource.id !== undefined &&
      (typeof resource.id !== 'string' || !/^[A-Za-z0-9.-]{1,64}$/.test(resource.id))
    ) {
      throw new DataError('invalid', 'id must match [A-Za-z0-9.-]{1,64}');
    }
  };

  const store = (slot: Slot, resource: FhirResource, now: number): FhirResource => {
    slot.versionId += 1;
    slot.lastUpdated = now;
    slot.deleted = false;
    slot.recipe = -1;
    slot.stored = withMeta({ ...resource, id: slot.id }, slot.versionId, now, chart.zone);
    slot.keys = keysOf(slot.stored);
    return slot.stored;
  };

  return {
    chart,
    search(type, query, after, count, linkBase) {
      const list = byType.get(type) ?? [];
      const page: Slot[] = [];
      let more = false;
      for (let i = firstAfter(list, after); i < list.length; i++) {
        const slot = list[i] as Slot;
        if (slot.deleted || !matches(slot, query)) continue;
        if (page.length === count) {
          more = true;
          break;
        }
        page.push(slot);
      }
      return {
        resources: page.map((s) => materialize(s, linkBase)),
        last: page.at(-1)?.seq ?? after,
        more,
        total: () => list.reduce((n, s) => (!s.deleted && matches(s, query) ? n + 1 : n), 0),
      };
    },
    read(type, id, linkBase) {
      const slot = byKey.get(`${type}/${id}`);
      if (!slot) return { status: 'missing' };
      if (slot.deleted) return { status: 'gone' };
      return { status: 'found', resource: materialize(slot, linkBase) };
    },
    all(linkBase, type) {
      const types = type === undefined ? [...byType.keys()].sort() : [type];
      return types.flatMap((t) =>
        (byType.get(t) ?? []).filter((s) => !s.deleted).map((s) => materialize(s, linkBase)),
      );
    },
    counts() {
      const out: Record<string, number> = {};
      for (const [type, list] of [...byType.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        const n = list.reduce((c, s) => (s.deleted ? c : c + 1), 0);
        if (n > 0) out[type] = n;
      }
      return out;
    },
    add(resource, now) {
      validate(resource);
      const type = resource.resourceType;
      const id =
        resource.id ??
        opaqueId(chart.seed, chart.practice.code, chart.person.username, 'added', ++added, now);
      const existing = byKey.get(`${type}/${id}`);
      if (existing && !existing.deleted)
        throw new DataError('conflict', `${type}/${id} already exists`);
      if (existing) return store(existing, resource, now);
      const slot = insert({ resource: { ...resource, id }, lastUpdated: now, versionId: 0 }, -1);
      return store(slot, { ...resource, id }, now);
    },
    replace(resource, now) {
      validate(resource);
      if (resource.id === undefined) throw new DataError('invalid', 'a replacement needs an id');
      return store(live(resource.resourceType, resource.id), resource, now);
    },
    change(type, id, patch, now, linkBase) {
      const slot = live(type, id);
      const next: FhirResource = { ...materialize(slot, linkBase) };
      for (const [key, value] of Object.entries(patch)) {
        if (key === 'resourceType' || key === 'id' || key === 'meta') continue;
        if (value === null) delete next[key];
        else next[key] = value;
      }
      return store(slot, next, now);
    },
    remove(type, id, now) {
      const slot = live(type, id);
      slot.deleted = true;
      slot.versionId += 1;
      slot.lastUpdated = now;
      slot.stored = undefined;
      slot.recipe = -1;
    },
  };
}
