// The practices API (inside the API-key scope): search and list, one practice with its health,
// and, for admin keys, add by hand, import the endpoint directory, health check, disable/enable.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parse } from '../common/validate.ts';
import { PRACTICE_ID, PRACTICE_ID_RULE } from '../practices/input.ts';
import {
  type AddPracticeInput,
  DEFAULT_SEARCH_LIMIT,
  type PracticeService,
} from '../practices/service.ts';
import { viewMatch, viewPractice } from '../practices/view.ts';
import { zodRoute } from './openapi.ts';

export interface PracticeRouteDeps {
  practices: PracticeService;
}

const practiceId = z.string().regex(PRACTICE_ID, PRACTICE_ID_RULE);
const idParams = z.object({ id: practiceId });
const text = (max: number) => z.string().trim().min(1).max(max);

const listQuery = z.object({
  q: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  offset: z.coerce.number().int().min(0).default(0),
  /** Comma-separated, e.g. `active,disabled`; default: every status. */
  status: z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(z.enum(['active', 'vanished', 'disabled'])))
    .optional(),
  source: z.enum(['directory', 'operator', 'config']).optional(),
});

// Only the shape here: the values are the service's to check (checkNewPractice), the same rule
// and message as for `fhirbridge practices add`.
const addBody = z.object({
  address: z.record(z.string(), z.unknown(), { error: 'must be an object' }).optional(),
});

// Over HTTP only a URL: a server path would let an API key read (or probe) any file the
// process can; `fhirbridge practices import <file>` is the way to import a file on the host.
const importBody = z
  .object({ url: z.string().min(1).max(2048) }, { error: 'must be { "url": ... }' })
  .strict();

const disableBody = z.object({ reason: text(500).optional() }).optional();

export function registerPracticeRoutes(app: FastifyInstance, deps: PracticeRouteDeps): void {
  const { practices } = deps;
  // Changing what fhirbridge may call is the operator's; apps search and read.
  const admin = { config: { access: 'admin' as const } };

  app.get('/api/practices', zodRoute({ querystring: listQuery }), async (request) => {
    const query = parse(listQuery, request.query, 'query');
    if (query.q !== undefined && query.q.trim() !== '') {
      const limit = query.limit ?? DEFAULT_SEARCH_LIMIT;
      const matches = await practices.searchPractices(query.q, limit);
      return { query: query.q, practices: matches.map(viewMatch) };
    }
    const limit = query.limit ?? 50;
    const page = await practices.listPractices({
      limit,
      offset: query.offset,
      ...(query.status ? { status: query.status } : {}),
      ...(query.source ? { source: query.source } : {}),
    });
    return {
      practices: page.practices.map(viewPractice),
      total: page.total,
      limit,
      offset: query.offset,
    };
  });

  app.get('/api/practices/:id', zodRoute({ params: idParams }), async (request) => {
    const { id } = parse(idParams, request.params, 'path');
    return viewPractice(await practices.getPractice(id));
  });

  const practicesRoute = { ...admin, ...zodRoute({ body: addBody }) };
  app.post('/api/practices', practicesRoute, async (request, reply) => {
    const { address } = parse(addBody, request.body, 'body');
    const body = request.body as Record<string, unknown>;
    const added = await practices.addPractice({
      id: body.id,
      name: body.name,
      base: body.base,
      vendor: body.vendor,
      registration: body.registration,
      organizationName: body.organizationName,
      addressLine: address?.line,
      city: address?.city,
      state: address?.state,
      postalCode: address?.postalCode,
    } as AddPracticeInput);
    return reply.code(201).send(viewPractice(added));
  });

  const importRoute = { ...admin, ...zodRoute({ body: importBody }) };
  app.post('/api/practices/import', importRoute, async (request) => {
    const source = parse(importBody, request.body, 'body');
    return practices.importDirectory(source);
  });

  const byId = { ...admin, ...zodRoute({ params: idParams }) };
  app.post('/api/practices/:id/check', byId, async (request) => {
    const { id } = parse(idParams, request.params, 'path');
    return viewPractice(await practices.checkPractice(id));
  });

  const disableSchema = { params: idParams, body: disableBody };
  const disableRoute = { ...admin, ...zodRoute(disableSchema) };
  app.post('/api/practices/:id/disable', disableRoute, async (request) => {
    const { id } = parse(idParams, request.params, 'path');
    const body = parse(disableBody, request.body ?? undefined, 'body');
    return viewPractice(await practices.disablePractice(id, body?.reason));
  });

  app.post('/api/practices/:id/enable', byId, async (request) => {
    const { id } = parse(idParams, request.params, 'path');
    return viewPractice(await practices.enablePractice(id));
  });
}
