// What the sync reads out of a resource before storing it: its meta (versionId, lastUpdated),
// its clinical date (for `date` queries), the references worth following and the attachments
// to fetch as Binary.
import { BridgeError } from '../common/errors.ts';
import { type PracticeBase, rebaseLink } from '../fhir/urls.ts';
import type { ReferenceNote, ResourceWrite } from '../store/port.ts';
import { parseFhirDate, rangeOfValue } from './fhir-dates.ts';

export type Json = Record<string, unknown>;

/** Where each type keeps the date its `date` search parameter looks at. */
const CLINICAL_DATE: Readonly<Record<string, (r: Json) => unknown>> = {
  Observation: (r) => r.effectiveDateTime ?? r.effectivePeriod ?? r.effectiveInstant,
};

export function toResourceWrite(resource: Json, json: string): ResourceWrite {
  const meta = (resource.meta ?? {}) as { versionId?: unknown; lastUpdated?: unknown };
  const lastUpdated = typeof meta.lastUpdated === 'string' ? meta.lastUpdated : null;
  const type = resource.resourceType as string;
  const dateOf = CLINICAL_DATE[type];
  const range = dateOf ? rangeOfValue(dateOf(resource)) : undefined;
  return {
    type,
    id: resource.id as string,
    versionId: typeof meta.versionId === 'string' ? meta.versionId : null,
    lastUpdated,
    lastUpdatedMs: lastUpdated === null ? null : (parseFhirDate(lastUpdated)?.start ?? null),
    dateStart: range?.start ?? null,
    dateEnd: range?.end ?? null,
    json,
  };
}

const LOCAL_REFERENCE = /^([A-Z][A-Za-z]{1,63})\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

/**
 * `Type/id` of a reference or attachment URL on the practice base: relative, or absolute with
 * its path under the base path. healow names its own host in absolute URLs
 * (`http://fhir4.eclinicalworks.com/fhir/r4/CODE/Binary/x`), so an absolute URL is rebased
 * like a `next` link: the token only ever goes to the base we chose. Undefined otherwise.
 */
export function localReference(
  base: PracticeBase,
  url: string,
): { type: string; id: string } | undefined {
  let path = url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    if (!/^https?:/i.test(url)) return undefined; // urn:uuid:, urn:oid:, data:...
    try {
      const rebased = rebaseLink(base, url);
      path = rebased.pathname.slice(base.path.length).replace(/^\//, '');
      if (rebased.search) return undefined;
    } catch (error) {
      if (error instanceof BridgeError) return undefined;
      throw error;
    }
  }
  const m = LOCAL_REFERENCE.exec(path);
  return m ? { type: m[1] as string, id: m[2] as string } : undefined;
}

export interface Skip {
  /** What was not fetched, e.g. `DocumentReference/abc attachment`. */
  what: string;
  reason: string;
}

export interface Found {
  references: ReferenceNote[];
  skipped: Skip[];
}

const ATTACHMENT_KEYS = new Set(['attachment', 'presentedForm', 'photo', 'content']);

function isAttachment(key: string, value: Json): boolean {
  return (
    typeof value.url === 'string' &&
    (typeof value.contentType === 'string' || ATTACHMENT_KEYS.has(key)) &&
    !Object.keys(value).some((k) => k.startsWith('value'))
  );
}

/**
 * The references of `resource` to types in `wanted` (deduplicated within the resource), and its
 * attachments as Binary references when `attachments` is on.
 */
export function findReferences(
  resource: Json,
  base: PracticeBase,
  wanted: ReadonlySet<string>,
  attachments: boolean,
  follow?: { elements: readonly string[]; readable: ReadonlySet<string> },
): Found {
  const references = new Map<string, ReferenceNote>();
  const skipped: Skip[] = [];
  const owner = `${String(resource.resourceType)}/${String(resource.id)}`;

  const visit = (key: string, value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(key, item);
      return;
    }
    if (!value || typeof value !== 'object') return;
    const node = value as Json;
    if (typeof node.reference === 'string') {
      const ref = localReference(base, node.reference);
      if (ref && wanted.has(ref.type)) references.set(`${ref.type}/${ref.id}`, ref);
    }
    if (attachments && isAttachment(key, node)) {
      const url = node.url as string;
      const ref = localReference(base, url);
      if (ref?.type === 'Binary') {
        references.set(`Binary/${ref.id}`, {
          type: 'Binary',
          id: ref.id,
          contentType: typeof node.contentType === 'string' ? node.contentType : null,
          declaredSize: typeof node.size === 'number' ? node.size : null,
        });
      } else {
        skipped.push({
          what: `${owner} attachment`,
          reason: `its URL is not a Binary on the practice base: ${url.slice(0, 200)}`,
        });
      }
    }
    // for-in rather than Object.entries: no array of pairs per node of every resource.
    for (const k in node) {
      const v = node[k];
      if (v && typeof v === 'object') visit(k, v);
    }
  };
  visit('', resource);
  // References worth following although their type is searched (DiagnosticReport.result).
  for (const element of follow?.elements ?? []) {
    const value = resource[element];
    for (const item of Array.isArray(value) ? value : [value]) {
      const reference = (item as Json | null | undefined)?.reference;
      if (typeof reference !== 'string') continue;
      const ref = localReference(base, reference);
      if (ref && follow?.readable.has(ref.type)) references.set(`${ref.type}/${ref.id}`, ref);
    }
  }
  references.delete(owner);
  return { references: [...references.values()], skipped };
}
