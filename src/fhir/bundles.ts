// Reading searchset pages: the shape we rely on (validated), the `next` link, the resources.
// `Bundle.total` is never used: healow reports e.g. 50 on a page with no entries.

import type { Bundle, Resource } from 'fhir/r4.js';
import { z } from 'zod';
import { BridgeError } from '../common/errors.ts';
import { asOperationOutcome, outcomeText } from './responses.ts';

const bundleSchema = z.looseObject({
  resourceType: z.literal('Bundle'),
  link: z.array(z.looseObject({ relation: z.string(), url: z.string() })).optional(),
  entry: z
    .array(
      z.looseObject({
        resource: z.looseObject({ resourceType: z.string() }).optional(),
        search: z.looseObject({ mode: z.string().optional() }).optional(),
      }),
    )
    .optional(),
});

/** The body as a Bundle, or `upstream_error` naming what came instead. */
export function parseBundle(body: unknown, what: string): Bundle {
  const parsed = bundleSchema.safeParse(body);
  // The schema checks only what paging relies on; the rest is the server's FHIR as sent.
  if (parsed.success) return parsed.data as unknown as Bundle;
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
