// The JSON API's contract: OpenAPI 3.1 at `/openapi.json` and a page at `/docs/api`, both made
// from the routes as fastify registers them. A route hands its zod schemas to fastify's `schema`
// option and its handler validates with the same objects (`parse`), so the contract cannot
// drift from what is checked; a route without one still gets its path, key and errors.
import type { FastifyInstance, RouteOptions } from 'fastify';
import { z } from 'zod';
import { isFhirRoute } from '../http/errors.ts';

/** The request schemas a route may register (zod objects, as its handler parses with). */
export interface RouteSchemas {
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
}

export interface DescribedRoute {
  method: string;
  /** Fastify's path, e.g. `/api/connections/:id`. */
  url: string;
  schema: RouteSchemas;
  /** Only admin keys may call it. */
  admin: boolean;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** Routes of the JSON API: those behind an API key. */
const isApiRoute = (url: string) => url.startsWith('/api/') || url === '/metrics';

/**
 * The options that give a route its zod schemas: fastify keeps them with the route (where the
 * contract reads them) and lets the request through untouched, since the handler validates
 * with the same objects and answers the errors the API documents.
 */
export function zodRoute<S extends RouteSchemas>(schema: S) {
  return { schema, validatorCompiler: () => (value: unknown) => ({ value }) };
}

/** Collects the JSON API's routes as they are added; call before they are registered. */
export function describeRoutes(app: FastifyInstance): DescribedRoute[] {
  const routes: DescribedRoute[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!isApiRoute(route.url)) return;
    for (const method of [route.method].flat()) {
      if (!(METHODS as readonly string[]).includes(method)) continue;
      routes.push({
        method,
        url: route.url,
        schema: zodOnly(route.schema as Record<string, unknown> | undefined),
        admin: (route.config as { access?: string } | undefined)?.access === 'admin',
      });
    }
  });
  return routes;
}

function zodOnly(schema: Record<string, unknown> | undefined): RouteSchemas {
  const out: RouteSchemas = {};
  for (const part of ['params', 'querystring', 'body'] as const) {
    const value = schema?.[part];
    if (value instanceof z.ZodType) out[part] = value;
  }
  return out;
}

type JsonSchema = Record<string, unknown>;

/** Request-side JSON Schema (2020-12, the dialect of OpenAPI 3.1) of a zod schema. */
function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

/** `/api/connections/:id/fhir/*` → `/api/connections/{id}/fhir/{path}` and its path names. */
export function openApiPath(url: string): { path: string; names: string[] } {
  const names: string[] = [];
  const path = url
    .split('/')
    .map((segment) => {
      if (segment === '*') {
        names.push('path');
        return '{path}';
      }
      return segment.replace(/^:([A-Za-z0-9_]+)/, (_m, name: string) => {
        names.push(name);
        return `{${name}}`;
      });
    })
    .join('/');
  return { path, names };
}

const errorResponse = (description: string, fhir = false) => ({
  description,
  content: fhir
    ? { 'application/fhir+json': { schema: { $ref: '#/components/schemas/OperationOutcome' } } }
    : { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

/** What a route answers on success, by media type. */
function successContent(url: string): Record<string, { schema: JsonSchema }> {
  if (url === '/metrics') return { 'text/plain': { schema: { type: 'string' } } };
  if (url.endsWith('/export')) {
    return {
      'application/json': { schema: {} },
      'application/fhir+ndjson': { schema: { type: 'string' } },
      'application/fhir+json': { schema: {} },
    };
  }
  if (isFhirRoute(url)) return { 'application/fhir+json': { schema: {} } };
  return { 'application/json': { schema: {} } };
}

function operationOf(route: DescribedRoute): { path: string; operation: JsonSchema } {
  const { path, names } = openApiPath(route.url);
  const paramSchemas = route.schema.params
    ? ((jsonSchemaOf(route.schema.params).properties ?? {}) as Record<string, JsonSchema>)
    : {};
  const parameters: JsonSchema[] = names.map((name) => ({
    name,
    in: 'path',
    required: true,
    schema: paramSchemas[name] ?? { type: 'string' },
  }));
  if (route.schema.querystring) {
    const query = jsonSchemaOf(route.schema.querystring);
    const required = new Set((query.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries(
      (query.properties ?? {}) as Record<string, JsonSchema>,
    )) {
      // A default makes a parameter optional to the caller whatever `io: input` says.
      parameters.push({
        name,
        in: 'query',
        required: required.has(name) && !('default' in schema),
        schema,
      });
    }
  }
  const hasInput = parameters.length > 0 || route.schema.body !== undefined;
  // FHIR routes answer every error as an OperationOutcome; the export, its own refusals.
  const fhir = isFhirRoute(route.url);
  const fhirRefusals = fhir || route.url.endsWith('/export');
  const responses: Record<string, unknown> = {
    '2XX': { description: 'done', content: successContent(route.url) },
    ...(hasInput ? { '400': errorResponse('invalid input', fhirRefusals) } : {}),
    '401': errorResponse('no API key, or an unknown or revoked one', fhir),
    ...(route.admin
      ? { '403': errorResponse('an app key: this route needs an admin key', fhir) }
      : {}),
    ...(names.length > 0
      ? { '404': errorResponse('no such item (or not this app’s)', fhirRefusals) }
      : {}),
    default: errorResponse('any other failure', fhir),
  };
  return {
    path,
    operation: {
      operationId: operationId(route.method, path),
      ...(route.admin ? { description: 'Admin keys only.' } : {}),
      parameters,
      ...(route.schema.body
        ? {
            requestBody: {
              // A body whose every member is optional may be left out.
              required: !route.schema.body.safeParse({}).success,
              content: { 'application/json': { schema: jsonSchemaOf(route.schema.body) } },
            },
          }
        : {}),
      responses,
      security: [{ apiKey: [] }],
    },
  };
}

function operationId(method: string, path: string): string {
  const words = path
    .replace(/^\/api\//, '/')
    .split('/')
    .filter(Boolean)
    .map((w) => (w.startsWith('{') ? `by-${w.slice(1, -1)}` : w));
  return [method.toLowerCase(), ...words]
    .join('-')
    .replace(/[^A-Za-z0-9]+(.)/g, (_m, c: string) => c.toUpperCase());
}

export function openApiDocument(
  routes: readonly DescribedRoute[],
  { serverUrl, version }: { serverUrl: string; version: string },
): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of [...routes].sort((a, b) => a.url.localeCompare(b.url))) {
    const { path, operation } = operationOf(route);
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'fhirbridge API',
      version,
      description:
        'The JSON API for app backends: connect patients, read their records, follow syncs. Every call needs an API key (`Authorization: Bearer …`).',
    },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      schemas: {
        OperationOutcome: {
          type: 'object',
          required: ['resourceType', 'issue'],
          properties: { resourceType: { const: 'OperationOutcome' }, issue: { type: 'array' } },
        },
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' } },
            },
          },
        },
      },
    },
  };
}

/** `/openapi.json` (no key: the contract is no secret) and `/docs/api`, a page made from it. */
export function registerOpenApiRoutes(
  app: FastifyInstance,
  routes: readonly DescribedRoute[],
  options: { serverUrl: string; version: string },
): void {
  let document: JsonSchema | undefined;
  // Built on first request: every route is registered by then.
  const documentOf = () => {
    document ??= openApiDocument(routes, options);
    return document;
  };
  app.get('/openapi.json', async () => documentOf());
  app.get('/docs/api', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(docsPage(documentOf())),
  );
}

const escapeHtml = (s: string) =>
  s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');

/** The reference page: plain HTML made on the server, nothing fetched from elsewhere. */
export function docsPage(document: JsonSchema): string {
  const paths = document.paths as Record<string, Record<string, JsonSchema>>;
  const sections = Object.entries(paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, op]) => {
      const parameters = (op.parameters as JsonSchema[]).map(
        (p) =>
          `<li><code>${escapeHtml(String(p.name))}</code> (${escapeHtml(String(p.in))}${p.required ? ', required' : ''}): <code>${escapeHtml(JSON.stringify(p.schema))}</code></li>`,
      );
      const body = op.requestBody
        ? `<p>Body (application/json):</p><pre>${escapeHtml(JSON.stringify((op.requestBody as { content: Record<string, { schema: unknown }> }).content['application/json']?.schema, null, 2))}</pre>`
        : '';
      const responses = Object.entries(op.responses as Record<string, { description: string }>)
        .map(
          ([code, r]) => `<li><code>${escapeHtml(code)}</code> ${escapeHtml(r.description)}</li>`,
        )
        .join('');
      return `<section id="${escapeHtml(String(op.operationId))}"><h2><code>${method.toUpperCase()} ${escapeHtml(path)}</code></h2>${op.description ? `<p>${escapeHtml(String(op.description))}</p>` : ''}${parameters.length ? `<ul>${parameters.join('')}</ul>` : ''}${body}<p>Answers:</p><ul>${responses}</ul></section>`;
    }),
  );
  const info = document.info as { title: string; version: string; description: string };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(info.title)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:.5rem;overflow:auto}section{border-top:1px solid #ddd}</style>
</head><body><h1>${escapeHtml(info.title)} ${escapeHtml(info.version)}</h1><p>${escapeHtml(info.description)}</p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
${sections.join('\n')}
</body></html>`;
}
