// One searchset page as the sync reads it: the body's text (capped), the Bundle parsed for its
// links, each resource with the text the server sent for it, and the next page's path relative
// to the practice base (rebased: healow's `next` links name another host over plain http).
import type { Bundle } from 'fhir/r4.js';
import { BridgeError } from '../common/errors.ts';
import { entryResourceTexts } from '../fhir/bundle-text.ts';
import { parseBundle } from '../fhir/bundles.ts';
import { type FhirClient, type FhirTarget, nextLink } from '../fhir/index.ts';
import { discard } from '../fhir/responses.ts';
import { type PracticeBase, rebaseLink, relativeToBase } from '../fhir/urls.ts';
import type { Json } from './extract.ts';

export interface PageResource {
  resource: Json;
  /** The resource's JSON text as the server sent it (whitespace between tokens removed). */
  json: string;
}

export interface Page {
  bundle: Bundle;
  /** The search's matches. */
  resources: PageResource[];
  /** What `_include` added to the page (search mode `include`). */
  included: PageResource[];
  /** The next page relative to the base (`?_getpages=…`), or undefined on the last page. */
  next: string | undefined;
  /** The server's `Date` header (epoch ms), when it sent one. */
  serverTime: number | undefined;
}

/**
 * The whole body as text, refused when it is over `limit` bytes (declared or streamed): a
 * runaway answer cannot take the process's memory. (An error body is read differently: only its
 * first bytes, `readBodyPrefix` in fhir/responses.ts.)
 */
export async function readBodyWithin(
  res: Response,
  limit: number,
  what: string,
  signal?: AbortSignal,
): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > limit) {
    await discard(res);
    throw tooLarge(what, limit);
  }
  // A declared size within the limit is read whole: the transport already holds such a body as
  // bytes, and a stream over them read back chunk by chunk would cost a copy of every page.
  if (declared <= limit) return decodeWhole(res, limit, what, signal);
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) throw tooLarge(what, limit);
      chunks.push(value);
    }
  } catch (cause) {
    await reader.cancel().catch(() => {});
    throw bodyReadError(cause, what, signal);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** The body of a declared size within `limit`, read in one piece. */
async function decodeWhole(
  res: Response,
  limit: number,
  what: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  let bytes: ArrayBuffer;
  try {
    bytes = await res.arrayBuffer();
  } catch (cause) {
    throw bodyReadError(cause, what, signal);
  }
  // A body longer than it said it was is refused all the same.
  if (bytes.byteLength > limit) throw tooLarge(what, limit);
  return Buffer.from(bytes).toString('utf8');
}

function tooLarge(what: string, limit: number): BridgeError {
  return new BridgeError('upstream_error', `${what}: the body is larger than ${limit} bytes`, {
    status: 502,
    details: { tooLarge: true },
  });
}

/** What a failed body read becomes: the run's abort as it is, else an upstream error. */
function bodyReadError(cause: unknown, what: string, signal: AbortSignal | undefined): unknown {
  if (cause instanceof BridgeError) return cause;
  if (signal?.aborted) return signal.reason;
  const timedOut = cause instanceof DOMException && cause.name === 'TimeoutError';
  return new BridgeError(
    'upstream_error',
    timedOut ? `${what}: the body did not arrive in time` : `${what}: the body broke off`,
    { status: timedOut ? 504 : 502, details: { timeout: timedOut }, cause },
  );
}

/** Parses a JSON body, or says which request answered something else. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new BridgeError('upstream_error', `${what}: the body is not JSON`, {
      status: 502,
      cause,
    });
  }
}

/** The resources of a page with their own texts: matches and included, warnings left out. */
export function pageResources(
  text: string,
  bundle: Bundle,
  what: string,
): { matches: PageResource[]; included: PageResource[] } {
  const entries = bundle.entry ?? [];
  let texts: Array<string | undefined>;
  try {
    texts = entryResourceTexts(text);
  } catch (cause) {
    throw new BridgeError('upstream_error', `${what}: the Bundle text could not be read`, {
      status: 502,
      cause,
    });
  }
  const matches: PageResource[] = [];
  const included: PageResource[] = [];
  for (const [i, entry] of entries.entries()) {
    if (entry.search?.mode === 'outcome' || !entry.resource) continue;
    const resource = entry.resource as unknown as Json;
    if (typeof resource.id !== 'string' || resource.id === '') {
      throw new BridgeError('upstream_error', `${what}: a ${resource.resourceType} without an id`, {
        status: 502,
      });
    }
    // The scanner and JSON.parse read the same text, so they agree unless keys repeat oddly;
    // then the parsed value, serialized, is the honest fallback.
    const found = { resource, json: texts[i] ?? JSON.stringify(resource) };
    (entry.search?.mode === 'include' ? included : matches).push(found);
  }
  return { matches, included };
}

export interface PageReadOptions {
  signal?: AbortSignal;
  maxPageBytes: number;
  /** Per attempt (the client's default when absent). */
  timeoutMs?: number;
  /** Epoch ms: no retry is started that would end after it. */
  deadline?: number;
}

/** Reads the page at `path` (relative to the base) through the FHIR client. */
export async function readPage(
  fhir: FhirClient,
  target: FhirTarget,
  base: PracticeBase,
  path: string,
  options: PageReadOptions,
): Promise<Page> {
  const what = `GET ${path.length > 120 ? `${path.slice(0, 120)}…` : path}`;
  const res = await fhir.request(target, path, {
    priority: 'background',
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
  });
  const date = Date.parse(res.headers.get('date') ?? '');
  const text = await readBodyWithin(res, options.maxPageBytes, what, options.signal);
  const bundle = parseBundle(parseJson(text, what), what);
  const link = nextLink(bundle);
  const { matches, included } = pageResources(text, bundle, what);
  return {
    bundle,
    resources: matches,
    included,
    next: link === undefined ? undefined : relativeToBase(base, rebaseLink(base, link)),
    serverTime: Number.isNaN(date) ? undefined : date,
  };
}
