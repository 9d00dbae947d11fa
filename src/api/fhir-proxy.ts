// `GET /api/connections/:id/fhir/{type}[/{id}][?params]`: a live, server-side read through the
// connection (healow sends no CORS headers, so the browser can never call it directly). Every call
// goes through the budget and the token refresh of the FHIR client. Reads stream; searches come
// back with their paging links pointing at this proxy instead of the EHR.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { BridgeError } from '../common/errors.ts';
import { parseBase, rebaseLink, relativeToBase } from '../fhir/urls.ts';
import type { Runtime } from '../runtime.ts';
import { parse } from './connections.ts';

const params = z.object({
  id: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/, 'is not a connection id'),
  // `Type`, `Type/id`, `Type/id/_history/vid`: FHIR ids are [A-Za-z0-9-.]{1,64}. Empty is the
  // base itself, where HAPI (and so healow) points its paging links: `[base]?_getpages=…`.
  '*': z
    .string()
    .regex(
      /^([A-Z][A-Za-z]{1,63}(\/[A-Za-z0-9.-]{1,64}(\/_history\/[A-Za-z0-9.-]{1,64})?)?)?$/,
      'is not a FHIR type or type/id',
    ),
});

/**
 * RFC 7240 §4.3 `Prefer: wait=N`: the caller waits at most N seconds, so the budget gives up with
 * `budget_exhausted` once they pass. Anything unreadable is ignored, as §2 asks.
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

export function registerFhirProxyRoutes(
  app: FastifyInstance,
  runtime: Pick<Runtime, 'fhir' | 'fhirTarget' | 'config' | 'clock'>,
): void {
  app.get('/api/connections/:id/fhir/*', async (request, reply) => {
    const { id, '*': path } = parse(params, request.params, 'path');
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    if (!path && !query) {
      throw new BridgeError('invalid_request', 'invalid path: name a FHIR type or type/id');
    }
    const wait = preferredWait(request.headers.prefer);
    const target = await runtime.fhirTarget(id);
    const controller = new AbortController();
    request.raw.on('close', () => controller.abort());
    const upstream = await runtime.fhir.request(target, `${path}${query}`, {
      priority: 'interactive',
      signal: controller.signal,
      ...(wait === undefined ? {} : { deadline: runtime.clock.now() + wait * 1000 }),
    });
    reply.code(upstream.status).type('application/fhir+json');
    const etag = upstream.headers.get('etag');
    if (etag) reply.header('etag', etag);
    const lastModified = upstream.headers.get('last-modified');
    if (lastModified) reply.header('last-modified', lastModified);

    const isSearch = !path.includes('/');
    if (!isSearch || !upstream.body)
      return reply.send(upstream.body ? Readable.fromWeb(upstream.body as never) : '');
    const bundle = (await upstream.json()) as { link?: Array<{ relation?: string; url?: string }> };
    if (!bundle.link) return reply.send(bundle);
    const base = parseBase(target.base, target.allowHttp ?? false);
    const proxyBase = `${runtime.config.publicUrl}/api/connections/${id}/fhir/`;
    const links: typeof bundle.link = [];
    for (const link of bundle.link) {
      if (!link.url) continue;
      try {
        // `/fhir/` + `?_getpages=…` for a base-level paging link, `/fhir/Type?…` otherwise.
        links.push({ ...link, url: proxyBase + relativeToBase(base, rebaseLink(base, link.url)) });
      } catch (error) {
        if (!(error instanceof BridgeError)) throw error;
        // A `next` we would not follow must not end the search quietly: the caller would take
        // one page for the whole result. Other links (self, previous) are only left out.
        if (link.relation === 'next') throw error;
      }
    }
    bundle.link = links;
    return reply.send(bundle);
  });
}
