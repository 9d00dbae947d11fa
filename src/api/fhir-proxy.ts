// `GET /api/connections/:id/fhir/{type}[/{id}][?params]`, `/fhir/metadata` and
// `/fhir/.well-known/*`: a live, server-side read through the connection (healow sends no CORS
// headers, so the browser can never call it directly). Every call goes through the budget and the
// token refresh of the FHIR client, to the practice base's origin only. Reads stream; search
// Bundles keep every byte the EHR sent but their `link` and `entry.fullUrl` URLs, which point at
// this proxy instead of the EHR. The EHR's 4xx answers pass on with their status and
// OperationOutcome; its 5xx, silence and refused connections are a 502 or 504 of ours.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { parse } from '../common/validate.ts';
import { rewriteBundleUrls } from '../fhir/bundle-text.ts';
import type { FhirClient, FhirTarget } from '../fhir/client.ts';
import { readFailure } from '../fhir/responses.ts';
import { BUFFERED_BODY_MAX, hasBody } from '../fhir/transport.ts';
import { type PracticeBase, parseBase, rebaseLink, relativeToBase } from '../fhir/urls.ts';
import { operationOutcome, toErrorAnswer } from '../http/errors.ts';
import type { ConnectionRecord } from '../store/port.ts';

const CONNECTION_ID = /^con_[A-Za-z0-9_-]{10,64}$/;
/**
 * `Type`, `Type/id`, `Type/id/_history/vid`: FHIR ids are [A-Za-z0-9-.]{1,64}. Empty is the base
 * itself, where HAPI (and so healow) points its paging links: `[base]?_getpages=…`. `metadata`
 * (FHIR R4 RESTful API, the capabilities interaction) and `.well-known/<name>` (RFC 8615, SMART's
 * smart-configuration) are the base's other GETs.
 */
const FHIR_PATH =
  /^([A-Z][A-Za-z]{1,63}(\/[A-Za-z0-9.-]{1,64}(\/_history\/[A-Za-z0-9.-]{1,64})?)?|metadata|\.well-known\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,63})?$/;

const params = z.object({
  id: z.string().regex(CONNECTION_ID, 'is not a connection id'),
  '*': z.string().regex(FHIR_PATH, 'is not a FHIR type or type/id, metadata or .well-known/…'),
});

/** The route's parameters: two regular expressions on the way through, zod for the message. */
function pathParams(raw: unknown): z.infer<typeof params> {
  const { id, '*': path } = raw as { id?: unknown; '*'?: unknown };
  if (typeof id === 'string' && typeof path === 'string' && CONNECTION_ID.test(id)) {
    if (FHIR_PATH.test(path)) return { id, '*': path };
  }
  return parse(params, raw, 'path');
}

/** A search: a type (`Observation?…`) or the base itself (HAPI's `?_getpages=…`). */
const SEARCH_PATH = /^([A-Z][A-Za-z]{1,63})?$/;

export interface FhirProxyDeps {
  fhir: FhirClient;
  /**
   * How the FHIR client reaches a connection's practice with its tokens; `read` is the row the
   * request's ownership check read, so that a request reads it once.
   */
  fhirTarget(connectionId: string, read?: ConnectionRecord): Promise<FhirTarget>;
  clock: Clock;
  config: { publicUrl: string };
}

/**
 * RFC 7240 §4.3 `Prefer: wait=N`: the caller waits at most N seconds, so once they pass the budget
 * gives up (`budget_exhausted`) and an unanswered attempt too (504). Anything unreadable is
 * ignored, as §2 asks.
 */
export function preferredWait(header: string | string[] | undefined): number | undefined {
  for (const value of [header ?? []].flat()) {
    for (const preference of value.split(',')) {
      const match = /^\s*wait\s*=\s*"?(\d{1,9})"?\s*(;.*)?$/i.exec(preference);
      if (match?.[1] !== undefined) return Number(match[1]);
    }
  }
  return undefined;
}

/**
 * Our answer to an upstream failure we do not pass on: a 504 when the EHR did not answer in
 * time (the FHIR client marks it `details.timeout`), the error edge's mapping otherwise.
 */
function sendOurFailure(reply: FastifyReply, error: unknown, status?: number): FastifyReply {
  const answer = toErrorAnswer(error);
  const timedOut = error instanceof BridgeError && error.details?.timeout === true;
  const final = { ...answer, status: status ?? (timedOut ? 504 : answer.status) };
  return reply.code(final.status).type('application/fhir+json').send(operationOutcome(final));
}

/**
 * A 4xx from the EHR: its status and its OperationOutcome, byte for byte (healow explains a
 * refused search there: "Invalid request: Does not know how to handle …"). A 4xx without an
 * OperationOutcome keeps its status with an OperationOutcome of ours.
 */
async function passClientError(reply: FastifyReply, upstream: Response, what: string) {
  const { error, outcomeText } = await readFailure(upstream, what);
  if (outcomeText === undefined) return sendOurFailure(reply, error, upstream.status);
  return reply.code(upstream.status).type('application/fhir+json').send(outcomeText);
}

/**
 * A search Bundle with its `link` and `entry.fullUrl` URLs moved onto this proxy: the URL is
 * rebased onto the practice base (healow writes them on another host over plain http), then
 * taken relative to it. A `next` link that cannot be rebased fails the request (the caller would
 * take one page for the whole result); another such link is left out; such a fullUrl (a
 * `urn:uuid:`, another server's resource) is kept as sent.
 */
function bundleOntoProxy(text: string, base: PracticeBase, proxyBase: string): string | undefined {
  const onto = (url: string) => proxyBase + relativeToBase(base, rebaseLink(base, url));
  return rewriteBundleUrls(text, {
    link(url, relation) {
      try {
        return onto(url);
      } catch (error) {
        if (!(error instanceof BridgeError) || relation === 'next') throw error;
        return null;
      }
    },
    fullUrl(url) {
      if (!/^https?:\/\//i.test(url)) return url;
      try {
        return onto(url);
      } catch (error) {
        if (!(error instanceof BridgeError)) throw error;
        return url;
      }
    },
  });
}

/** The body as text; the attempt's timeout still runs while it streams in. */
async function bodyText(upstream: Response, what: string): Promise<string> {
  // ignoreBOM: a byte order mark stays in the text, so that the answer keeps every byte.
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(await bodyBytes(upstream, what));
}

/** The body's bytes; the attempt's timeout still runs while they stream in. */
async function bodyBytes(upstream: Response, what: string): Promise<ArrayBuffer> {
  try {
    return await upstream.arrayBuffer();
  } catch (cause) {
    const timedOut = cause instanceof DOMException && cause.name === 'TimeoutError';
    throw new BridgeError(
      'upstream_error',
      timedOut ? `${what}: the body did not arrive in time` : `${what}: the body could not be read`,
      { status: timedOut ? 504 : 502, details: { timeout: timedOut }, cause },
    );
  }
}

export function registerFhirProxyRoutes(app: FastifyInstance, runtime: FhirProxyDeps): void {
  app.get('/api/connections/:id/fhir/*', async (request, reply) => {
    const { id, '*': path } = pathParams(request.params);
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    if (!path && !query) {
      throw new BridgeError('invalid_request', 'invalid path: name a FHIR type or type/id');
    }
    const wait = preferredWait(request.headers.prefer);
    const target = await runtime.fhirTarget(id, request.ownedConnection);
    const controller = new AbortController();
    // A caller gone before its answer ends the upstream call. A finished answer closes too: no
    // abort then (each one made a DOMException and ran every listener of the signal).
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) controller.abort();
    });
    const what = `GET ${path}${query}`;
    let upstream: Response;
    try {
      upstream = await runtime.fhir.forward(target, `${path}${query}`, {
        priority: 'interactive',
        signal: controller.signal,
        // A silent EHR is a 504 after one attempt's timeout (or the caller's `Prefer: wait`),
        // not after four timeouts and their backoff.
        retryTimeouts: false,
        ...(wait === undefined ? {} : { deadline: runtime.clock.now() + wait * 1000 }),
      });
    } catch (error) {
      if (error instanceof BridgeError && error.code === 'upstream_error') {
        return sendOurFailure(reply, error);
      }
      throw error;
    }
    if (upstream.status >= 400) return passClientError(reply, upstream, what);

    // smart-configuration is plain JSON (SMART App Launch §"Conformance"), the rest FHIR JSON.
    reply
      .code(upstream.status)
      .type(path.startsWith('.well-known/') ? 'application/json' : 'application/fhir+json');
    const etag = upstream.headers.get('etag');
    if (etag) reply.header('etag', etag);
    const lastModified = upstream.headers.get('last-modified');
    if (lastModified) reply.header('last-modified', lastModified);

    if (!SEARCH_PATH.test(path) || !hasBody(upstream)) {
      if (!hasBody(upstream)) return reply.send('');
      // A body of modest, known size is already in memory (the FHIR client's transport read it
      // whole): sent as bytes, without a stream in between. A larger one streams through.
      const length = Number(upstream.headers.get('content-length') ?? Number.NaN);
      if (length <= BUFFERED_BODY_MAX) {
        return reply.send(Buffer.from(await bodyBytes(upstream, what)));
      }
      return reply.send(Readable.fromWeb(upstream.body as never));
    }
    let text: string;
    let rewritten: string | undefined;
    try {
      text = await bodyText(upstream, what);
      const base = parseBase(target.base, target.allowHttp ?? false);
      rewritten = bundleOntoProxy(
        text,
        base,
        `${runtime.config.publicUrl}/api/connections/${id}/fhir/`,
      );
    } catch (error) {
      if (error instanceof SyntaxError) {
        return sendOurFailure(
          reply,
          new BridgeError('upstream_error', `${what}: the body is not readable JSON`, {
            status: 502,
          }),
        );
      }
      if (error instanceof BridgeError && error.code === 'upstream_error') {
        return sendOurFailure(reply, error);
      }
      throw error;
    }
    return reply.send(rewritten ?? text);
  });
}
