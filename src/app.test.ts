// The app's scopes: which hooks run on which routes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxDefaults } from './cli/setup.ts';
import { createLogger } from './common/logger.ts';
import { type ConfigInput, loadConfig } from './config/index.ts';
import { createRuntime, type Runtime } from './runtime.ts';
import { buildApp } from './server.ts';

let dataDir: string;
let runtime: Runtime;
let app: FastifyInstance;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'fhirbridge-app-'));
  const config = loadConfig({
    env: {},
    base: sandboxDefaults('http://127.0.0.1:9', 'http://127.0.0.1:8'),
    overrides: { dataDir, publicUrl: 'http://127.0.0.1:8' } as ConfigInput,
  });
  runtime = await createRuntime({ config, logger: createLogger({ level: 'silent' }) });
  app = buildApp(runtime);
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await runtime.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * The hooks of every GET route by its path, from fastify's printed route tree (each route a line
 * `├── <part of the path> (GET)` indented by its depth, its hooks on the lines below it).
 */
function hooksByRoute(): Map<string, string> {
  const printed = app.printRoutes({ includeHooks: true, commonPrefix: false, method: 'GET' });
  const routes = new Map<string, string>();
  const pathAt: string[] = [];
  let current = '';
  for (const line of printed.split('\n')) {
    const route = /^(.*?)[├└]── (.*) \(GET\)$/.exec(line);
    if (route) {
      const depth = (route[1] ?? '').length / 4;
      current = (pathAt[depth - 1] ?? '') + (route[2] ?? '');
      pathAt[depth] = current;
      routes.set(current, '');
    } else if (line.includes('• (')) {
      routes.set(current, `${routes.get(current)}${line.trim()}\n`);
    }
  }
  return routes;
}

describe('hook scopes', () => {
  it('runs the cookie parser and the pages’ hooks on the pages, not on the API', () => {
    const routes = hooksByRoute();
    expect(routes.get('/launch/:state')).toContain('fastifyCookieHandler');
    expect(routes.get('/admin')).toContain('fastifyCookieHandler');
    const api = [...routes].filter(([path]) => path.startsWith('/api/'));
    // The proxy's wildcard route among them (the printed tree drops its `/fhir/`).
    expect(
      api.some(([path]) => path.startsWith('/api/connections/:id') && path.endsWith('*')),
    ).toBe(true);
    for (const [path, hooks] of api) {
      expect(hooks, path).not.toContain('Cookie');
      expect(hooks, path).not.toContain('(preHandler)');
      expect(hooks, path).not.toContain('(onSend)');
    }
  });

  it('names the request in every answer, an API error and a page alike', async () => {
    const api = await app.inject({ url: '/api/budget', headers: { 'x-request-id': 'req-a' } });
    expect(api.statusCode).toBe(401);
    expect(api.headers['x-request-id']).toBe('req-a');
    const missing = await app.inject({ url: '/nowhere' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const page = await app.inject({ url: '/connect', headers: { 'x-request-id': 'req-b' } });
    expect(page.headers['x-request-id']).toBe('req-b');
  });
});
