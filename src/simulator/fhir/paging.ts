// Paging the way HAPI (and so healow's "eCW FHIR Facade") does: the `next` link points at the
// base with an opaque `_getpages` cursor. Ours is stateless: it carries the search and the
// sequence number of the last resource served, so pages stay stable while data is added.

import { z } from 'zod';

const cursorSchema = z.object({
  v: z.literal(1),
  /** Practice code, resource type and patient the search was made for. */
  c: z.string(),
  t: z.string(),
  p: z.string(),
  /** The search parameters, replayed on every page. */
  q: z.array(z.tuple([z.string(), z.string()])),
  /** Last sequence number served. */
  a: z.number().int().nonnegative(),
  n: z.number().int().positive(),
  /** Resources served so far (`_getpagesoffset`). */
  o: z.number().int().nonnegative(),
});

export type PageCursor = z.infer<typeof cursorSchema>;

export function encodeCursor(cursor: Omit<PageCursor, 'v'>): string {
  return Buffer.from(JSON.stringify({ v: 1, ...cursor }), 'utf8').toString('base64url');
}

/** The cursor, or undefined when it is not one of ours (tampered, truncated, another version). */
export function decodeCursor(text: string): PageCursor | undefined {
  try {
    const parsed = cursorSchema.safeParse(
      JSON.parse(Buffer.from(text, 'base64url').toString('utf8')),
    );
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** `{base}?_getpages=…&_getpagesoffset=…&_count=…&_bundletype=searchset`, HAPI's shape. */
export function nextPageUrl(
  linkBase: string,
  cursor: string,
  offset: number,
  count: number,
): string {
  const q = new URLSearchParams({
    _getpages: cursor,
    _getpagesoffset: String(offset),
    _count: String(count),
    _pretty: 'true',
    _bundletype: 'searchset',
  });
  return `${linkBase}?${q.toString()}`;
}
