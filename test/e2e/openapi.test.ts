// The API contract against the running server: /openapi.json is a well-formed OpenAPI 3.1
// document whose schemas are valid JSON Schema 2020-12, and a walk over every operation in it
// checks that each answers as documented (the key it needs, the errors it lists, the success of
// every operation that takes no input). The docs page is served from here, nothing fetched.
import Ajv2020 from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApiKey } from '../../src/access/api-keys.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let stack: Stack;
let appKey: string;
let document: OpenApi;

const schemaObject = z.record(z.string(), z.unknown());
const response = z.object({
  description: z.string().min(1),
  content: z.record(z.string(), z.object({ schema: schemaObject })),
});
const operationSchema = z
  .object({
    operationId: z.string().regex(/^[a-z][A-Za-z0-9]*$/),
    description: z.string().optional(),
    parameters: z.array(
      z.object({
        name: z.string().min(1),
        in: z.enum(['path', 'query', 'header', 'cookie']),
        required: z.boolean(),
        schema: schemaObject,
      }),
    ),
    requestBody: z
      .object({
        required: z.boolean(),
        content: z.object({ 'application/json': z.object({ schema: schemaObject }) }),
      })
      .optional(),
    responses: z.record(z.string().regex(/^([1-5](\d\d|XX)|default)$/), response),
    security: z.array(z.record(z.string(), z.array(z.string()))),
  })
  .strict();
/** The parts of OpenAPI 3.1 (§4.8) this document uses, strictly. */
const openApiSchema = z.object({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info: z.object({ title: z.string().min(1), version: z.string().min(1), description: z.string() }),
  servers: z.array(z.object({ url: z.url() })),
  paths: z.record(
    z.string().regex(/^\//),
    z.partialRecord(z.enum(['get', 'post', 'put', 'patch', 'delete']), operationSchema),
  ),
  components: z.object({
    securitySchemes: z.record(
      z.string(),
      z.object({ type: z.literal('http'), scheme: z.literal('bearer') }),
    ),
    schemas: z.object({ Error: schemaObject, OperationOutcome: schemaObject }),
  }),
});
type OpenApi = z.infer<typeof openApiSchema>;

beforeAll(async () => {
  stack = await startStack({ config: { sync: { concurrency: 0, onConnect: false } } });
  appKey = (await createApiKey(stack.runtime.store, stack.runtime.clock, 'walker', 'app')).secret;
  const response = await fetch(`${stack.url}/openapi.json`);
  expect(response.status).toBe(200);
  document = openApiSchema.parse(await response.json());
});
afterAll(async () => {
  await stack.close();
});

const operations = () =>
  Object.entries(document.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
  );

/** The path with every parameter filled with a value no route accepts as an id. */
const malformed = (path: string) => path.replace(/\{[^}]+\}/g, 'not~an~id');

describe('/openapi.json', () => {
  it('is OpenAPI 3.1 with every path parameter declared, unique operation ids and valid 2020-12 schemas', () => {
    const ajv = new Ajv2020({ strict: false });
    const ids = operations().map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, op } of operations()) {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const declared = op.parameters.filter((p) => p.in === 'path');
      expect(
        declared.map((p) => p.name),
        path,
      ).toEqual(inPath);
      expect(declared.every((p) => p.required)).toBe(true);
      for (const p of op.parameters)
        expect(() => ajv.compile(p.schema), `${path} ${p.name}`).not.toThrow();
      const body = op.requestBody?.content['application/json'].schema;
      if (body) expect(() => ajv.compile(body), path).not.toThrow();
      expect(op.security).toEqual([{ apiKey: [] }]);
    }
    expect(() => ajv.compile(document.components.schemas.Error)).not.toThrow();
  });

  it('describes the connection routes from the zod schemas their handlers parse with', () => {
    const create = document.paths['/api/connections']?.post;
    expect(create?.requestBody).toEqual({
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: {
              practice: { type: 'string', minLength: 1, maxLength: 128 },
              userRef: { type: 'string', minLength: 1, maxLength: 256 },
              returnTo: { type: 'string', maxLength: 2048 },
            },
            required: ['practice', 'userRef'],
          },
        },
      },
    });
    const byId = document.paths['/api/connections/{id}']?.get;
    expect(byId?.parameters).toEqual([
      {
        name: 'id',
        in: 'path',
        required: true,
        schema: { type: 'string', pattern: '^con_[A-Za-z0-9_-]{10,64}$' },
      },
    ]);
  });

  it('answers every documented operation as it says: 401 without a key, 403 to an app key where admin, 400/404 for a malformed id, 2XX for those that need no input', async () => {
    const walked: string[] = [];
    for (const { path, method, op } of operations()) {
      const where = `${method} ${path}`;
      const url = `${stack.url}${malformed(path)}`;
      const hasBody = op.requestBody !== undefined;
      const init = (key?: string): RequestInit => ({
        method,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(hasBody ? { 'content-type': 'application/json' } : {}),
        },
        ...(hasBody ? { body: '{}' } : {}),
      });

      const anonymous = await fetch(url, init());
      expect(anonymous.status, where).toBe(401);
      // The body is the one the 401 documents: the API's error, or a FHIR route's OperationOutcome.
      const documented401 = Object.keys(op.responses['401']?.content ?? {});
      expect(documented401, where).toEqual([anonymous.headers.get('content-type')?.split(';')[0]]);
      const errorBody = (await anonymous.json()) as Record<string, unknown>;
      expect(Object.keys(errorBody), where).toEqual(
        documented401[0] === 'application/fhir+json' ? ['resourceType', 'issue'] : ['error'],
      );

      // An app key is refused exactly where the operation says it is for admin keys only.
      const asApp = await fetch(url, init(appKey));
      if (op.responses['403']) expect(asApp.status, where).toBe(403);
      else expect(asApp.status, where).not.toBe(403);
      await asApp.body?.cancel();

      const admin = await fetch(url, init(stack.apiKey));
      const documented = Object.keys(op.responses);
      const status = String(admin.status);
      if (path.includes('{') || op.parameters.some((p) => p.required) || op.requestBody?.required) {
        // Given input it cannot accept, the route refuses with a documented error.
        expect(['400', '404'], `${where}: ${status}`).toContain(status);
        expect(documented, where).toContain(status);
      } else if (method === 'GET') {
        // Only reads are called for real: a POST with no input still does something.
        expect(admin.status, where).toBeGreaterThanOrEqual(200);
        expect(admin.status, where).toBeLessThan(300);
        const content = op.responses['2XX']?.content ?? {};
        const type = admin.headers.get('content-type')?.split(';')[0] ?? '';
        expect(Object.keys(content), where).toContain(type);
      }
      await admin.body?.cancel();
      walked.push(where);
    }
    // The walk covered the whole API, the routes of every file.
    expect(walked).toContain('POST /api/connections');
    expect(walked).toContain('GET /api/connections/{id}/fhir/{path}');
    expect(walked).toContain('GET /metrics');
    expect(walked.length).toBeGreaterThanOrEqual(28);
  });
});

describe('/docs/api', () => {
  it('is one page made here: every operation listed, no script and nothing loaded from elsewhere', async () => {
    const response = await fetch(`${stack.url}/docs/api`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await response.text();
    expect(html).not.toMatch(/<script|<link|src=/i);
    for (const { op } of operations()) expect(html).toContain(`id="${op.operationId}"`);
  });
});

describe('request ids', () => {
  it("names each answer's request id: the caller's plain one kept, any other replaced by a UUID", async () => {
    const kept = await fetch(`${stack.url}/healthz`, { headers: { 'x-request-id': 'app-req.42' } });
    expect(kept.headers.get('x-request-id')).toBe('app-req.42');
    const replaced = await fetch(`${stack.url}/healthz`, {
      headers: { 'x-request-id': 'two words; and {braces}' },
    });
    expect(replaced.headers.get('x-request-id')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    const own = await fetch(`${stack.url}/healthz`);
    expect(own.headers.get('x-request-id')).not.toBe(replaced.headers.get('x-request-id'));
  });
});
