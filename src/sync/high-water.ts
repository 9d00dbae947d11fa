// The `_lastUpdated` high-water mark an incremental pass starts from. Taking only the newest
// lastUpdated seen would lose a race: a resource changed mid-pass on a page already read, while a
// later page shows a newer change, would sit below the mark forever. So the mark is also bounded
// by the server's own time when the pass began (its `Date` header): whatever changed after that
// instant carries a later lastUpdated and is asked for again.

export interface PassMarks {
  /** The server's time when the pass read its first page (epoch ms, from `Date`). */
  passBound: number | null;
  /** The newest meta.lastUpdated seen in the pass (epoch ms). */
  seenMax: number | null;
}

/**
 * The mark after a pass. `previous` is the mark the pass started from (incremental passes).
 * A pass that saw nothing keeps the previous mark, or 0 after a full pass ("everything since
 * 1970" is exact and costs nothing for a search that returned nothing).
 */
export function nextHighWater(
  mode: 'full' | 'incremental',
  marks: PassMarks,
  previous: number | null,
): number {
  if (marks.seenMax === null) return mode === 'incremental' && previous !== null ? previous : 0;
  const bounded =
    marks.passBound === null ? marks.seenMax : Math.min(marks.passBound, marks.seenMax);
  return mode === 'incremental' && previous !== null ? Math.max(previous, bounded) : bounded;
}

/** The search parameter of an incremental pass, e.g. `_lastUpdated=gt2025-10-01T00:00:00.000Z`. */
export function incrementalParam(param: '_lastUpdated' | '_since', mark: number): [string, string] {
  const instant = new Date(mark).toISOString();
  // `_since` is inclusive; `gt` on the millisecond is the same set but for the mark itself.
  return param === '_since' ? ['_since', instant] : ['_lastUpdated', `gt${instant}`];
}
