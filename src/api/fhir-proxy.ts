// `GET /api/connections/:id/fhir/{type}[/{id}][?params]`: a live, server-side read through the
// connection (healow sends no CORS headers, so the browser can never call it directly). Every call
// goes through the budget and the token refresh of the FHIR client. Reads stream; searches come
// back with their paging links pointing at this proxy instead of the EHR.
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { BridgeError } from '../common/errors.ts';
import { parseBase, rebaseLink } from '../fhir/urls.ts';
import type { Runtime } from '../runtime.ts';
import { parse } from './connections.ts';

const params = z.object({
  id: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/, 'is not a connection id'),
  // `Type`, `Type/id`, `Type/id/_history/vid`: FHIR ids are [A-Za-z0-9-.]{1,64}.
  '*': z
    .string()
    .regex(
      /^[A-Z][A-Za-z]{1,63}(\/[A-Za-z0-9.-]{1,64}(\/_history\/[A-Za-z0-9.-]{1,64})?)?$/,
      'is not a FHIR type or type/id',
    ),
});

export function registerFhirProxyRoutes(
  app: FastifyInstance,
  runtime: Pick<Runtime, 'fhir' | 'fhirTarget' | 'config'>,
): void {
  app.get('/api/connections/:id/fhir/*', async (request, reply) => {
    const { id, '*': path } = parse(params, request.params, 'path');
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    const target = await runtime.fhirTarget(id);
    const controller = new AbortController();
    request.raw.on('close', () => controller.abort());
    const upstream = await runtime.fhir.request(target, `${path}${query}`, {
      priority: 'interactive',
      signal: controller.signal,
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
    const base = parseBase(target.base, target.allowHttp ?? false);
    const proxyBase = `${runtime.config.publicUrl}/api/connections/${id}/fhir`;
    for (const link of bundle.link ?? []) {
      if (!link.url) continue;
      try {
        link.url = proxyBase + rebaseLink(base, link.url).href.slice(target.base.length);
      } catch (error) {
        if (!(error instanceof BridgeError)) throw error;
        delete link.url; // a link we would not follow is not offered either
      }
    }
    return reply.send(bundle);
  });
}
