// The synced record over the API, from the store (no upstream call): searchsets per type with
// paging and filters, single reads, and exports streamed as NDJSON (Bulk Data style, one file
// per type behind a manifest) or as one Bundle. Resources go out as the text the EHR sent.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../common/clock.ts';
import { parse } from '../common/validate.ts';
import type { Config } from '../config/schema.ts';
import { operationOutcome, toErrorAnswer } from '../http/errors.ts';
import { readResource, requireConnection, searchRecord } from '../records/reading.ts';
import type { Store, StoredResource } from '../store/port.ts';
import { bundleChunks, exportManifest, ndjsonChunks } from '../sync/export.ts';
import { KNOWN_TYPES } from '../sync/plan.ts';
import { zodRoute } from './openapi.ts';
import { encodeCursor, parseResourceSearch } from './resource-query.ts';

export interface ResourceRouteDeps {
  store: Store;
  clock: Clock;
  config: Pick<Config, 'publicUrl'>;
}

const connectionId = z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/, 'is not a connection id');
// Only types a sync can store: a misspelt type is a 400, not an empty Bundle.
const resourceType = z
  .string()
  .refine((t) => KNOWN_TYPES.includes(t), 'is not a resource type fhirbridge syncs');
const typeParams = z.object({ id: connectionId, type: resourceType });
const readParams = typeParams.extend({
  resourceId: z.string().regex(/^[A-Za-z0-9\-.]{1,256}$/, 'is not a FHIR id'),
});
const exportQuery = z.object({
  format: z.enum(['ndjson', 'bundle']).default('ndjson'),
  type: resourceType.optional(),
});

const FHIR_JSON = 'application/fhir+json';
const NDJSON = 'application/fhir+ndjson';

function searchParamsOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

/** A searchset Bundle around stored texts, built as text: the resources are never re-encoded. */
function searchset(
  rows: StoredResource[],
  links: Array<{ relation: string; url: string }>,
  fullUrlOf: (r: StoredResource) => string,
): string {
  const entries = rows.map(
    (r) =>
      `{"fullUrl":${JSON.stringify(fullUrlOf(r))},"resource":${r.json},"search":{"mode":"match"}}`,
  );
  return `{"resourceType":"Bundle","type":"searchset","link":${JSON.stringify(links)},"entry":[${entries.join(',')}]}`;
}

export function registerResourceRoutes(app: FastifyInstance, deps: ResourceRouteDeps): void {
  const { store, config, clock } = deps;
  const apiBase = (id: string) => `${config.publicUrl}/api/connections/${id}`;

  const resourcesRoute = zodRoute({ params: typeParams });
  app.get('/api/connections/:id/resources/:type', resourcesRoute, async (request, reply) => {
    const { id, type } = parse(typeParams, request.params, 'path');
    const params = searchParamsOf(request.url);
    const query = parseResourceSearch(id, type, params);
    const page = await searchRecord(store, query);
    const self = `${apiBase(id)}/resources/${type}`;
    const links = [{ relation: 'self', url: `${self}${params.size > 0 ? `?${params}` : ''}` }];
    if (page.nextAfter !== null) {
      const next = new URLSearchParams(params);
      next.set('_count', String(query.limit));
      next.set('_cursor', encodeCursor(page.nextAfter));
      links.push({ relation: 'next', url: `${self}?${next}` });
    }
    return reply
      .type(FHIR_JSON)
      .send(searchset(page.resources, links, (r) => `${self}/${encodeURIComponent(r.id)}`));
  });

  const readRoute = zodRoute({ params: readParams });
  app.get('/api/connections/:id/resources/:type/:resourceId', readRoute, async (request, reply) => {
    const { id, type, resourceId } = parse(readParams, request.params, 'path');
    const row = await readResource(store, id, type, resourceId);
    if (row.versionId) reply.header('etag', `W/"${row.versionId}"`);
    if (row.lastUpdatedMs !== null) {
      reply.header('last-modified', new Date(row.lastUpdatedMs).toUTCString());
    }
    return reply.type(FHIR_JSON).send(row.json);
  });

  const exportRoute = zodRoute({ querystring: exportQuery });
  app.get('/api/connections/:id/export', exportRoute, async (request, reply) => {
    // An export is FHIR-shaped like the searches, so its failures are OperationOutcomes too.
    try {
      return await sendExport(request.params, request.query, request.url, reply);
    } catch (error) {
      const answer = toErrorAnswer(error);
      return reply.code(answer.status).type(FHIR_JSON).send(operationOutcome(answer));
    }
  });

  async function sendExport(
    rawParams: unknown,
    rawQuery: unknown,
    url: string,
    reply: FastifyReply,
  ): Promise<FastifyReply> {
    const { id } = parse(z.object({ id: connectionId }), rawParams, 'path');
    const { format, type } = parse(exportQuery, rawQuery, 'query');
    await requireConnection(store, id);
    const exportUrl = `${apiBase(id)}/export`;
    if (format === 'ndjson' && type === undefined) {
      const manifest = await exportManifest(store, id, {
        request: `${config.publicUrl}${url}`,
        fileUrl: (t) => `${exportUrl}?format=ndjson&type=${t}`,
        now: clock.now(),
      });
      return reply.type('application/json').send(manifest);
    }
    if (format === 'ndjson') {
      const chunks = ndjsonChunks(store, id, type as string);
      return reply
        .type(NDJSON)
        .header('content-disposition', `attachment; filename="${type}.ndjson"`)
        .send(Readable.from(chunks));
    }
    const chunks = bundleChunks(store, id, {
      timestamp: clock.now(),
      ...(type === undefined ? {} : { type }),
    });
    return reply
      .type(FHIR_JSON)
      .header('content-disposition', 'attachment; filename="record.json"')
      .send(Readable.from(chunks));
  }
}
