import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { installErrorHandling } from '../http/errors.ts';
import {
  bundle,
  HEALOW_BASE,
  pair,
  writeDirectoryFile,
} from '../practices/directory.test-helper.ts';
import { createPracticeService } from '../practices/service.ts';
import { startTestServer, type TestServer } from '../smart/server.test-helper.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { registerPracticeRoutes } from './practices.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-practice-api-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const directory = bundle([
  ...pair('JAFJCD', 'FHIR R4 Prodtest EMR', { city: 'Westborough' }),
  ...pair('SPF001', 'Springfield Family Medicine', { city: 'Springfield' }),
  ...pair('PENA01', 'Clínica Peña', { city: 'San José' }),
]);

describe('practices API', () => {
  let store: Store;
  let app: FastifyInstance;
  let clock: ManualClock;
  let path: string;
  const servers: TestServer[] = [];

  beforeEach(async () => {
    store = await openSqliteStore({ path: ':memory:' });
    clock = new ManualClock();
    const practices = createPracticeService({
      repo: store.practices,
      clock,
      allowLoopbackHttp: true,
    });
    app = Fastify();
    installErrorHandling(app);
    registerPracticeRoutes(app, { practices });
    await app.ready();
    path = writeDirectoryFile(join(mkdtempSync(join(root, 't-')), 'directory.json'), directory);
  });

  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
    await app.close();
    await store.close();
  });

  /** Serves a directory Bundle over local HTTP and imports it through the API. */
  const importServed = async (body: unknown) => {
    const server = await startTestServer(() => ({ body }));
    servers.push(server);
    const url = `${server.url}/apps/api/v1/fhir/activated_clinical_endpoints`;
    return {
      url,
      response: await app.inject({
        method: 'POST',
        url: '/api/practices/import',
        payload: { url },
      }),
    };
  };
  const importFile = async () => (await importServed(directory)).response;

  it('imports from a URL and answers the summary', async () => {
    const { url, response } = await importServed(directory);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      source: url,
      entries: 6,
      practices: 3,
      added: 3,
      unchanged: 0,
      vanished: 0,
      skipped: { count: 0, reasons: [] },
    });
  });

  it('imports from a URL', async () => {
    const server = await startTestServer(() => ({ body: directory }));
    servers.push(server);
    const response = await app.inject({
      method: 'POST',
      url: '/api/practices/import',
      payload: { url: `${server.url}/apps/api/v1/fhir/activated_clinical_endpoints` },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ added: 3 });
  });

  it('a bad file is a 400 listing the problems, and nothing is imported', async () => {
    const { response } = await importServed(
      bundle(pair('NOADDR', 'x', { endpoint: { address: undefined } })),
    );
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: {
        code: 'invalid_request',
        message:
          'directory rejected, nothing imported: 1 problem: entry[0] (Endpoint NOADDR): no address (the FHIR base URL)',
      },
    });
    expect(await store.practices.count()).toBe(0);
  });

  it('validates the import body', async () => {
    for (const payload of [{}, { url: 'x', path: 'y' }, { file: 'x' }, { path }]) {
      const response = await app.inject({ method: 'POST', url: '/api/practices/import', payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().error.code).toBe('invalid_request');
    }
  });

  it('searches with q, typo tolerant and ranked', async () => {
    await importFile();
    const response = await app.inject({ url: '/api/practices?q=prodtst' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      query: 'prodtst',
      practices: [
        expect.objectContaining({
          id: 'JAFJCD',
          base: `${HEALOW_BASE}/JAFJCD`,
          match: 'fuzzy',
          address: { line: '1 Main St', city: 'Westborough', state: 'MA', postalCode: null },
        }),
      ],
    });
    const accents = await app.inject({ url: '/api/practices?q=clinica%20pena&limit=1' });
    expect(accents.json().practices.map((p: { id: string }) => p.id)).toEqual(['PENA01']);
  });

  it('lists with paging and filters without q', async () => {
    await importFile();
    const page = await app.inject({ url: '/api/practices?limit=2&offset=1' });
    expect(page.json()).toMatchObject({ total: 3, limit: 2, offset: 1 });
    expect(page.json().practices.map((p: { id: string }) => p.id)).toEqual(['JAFJCD', 'SPF001']);
    const vanished = await app.inject({ url: '/api/practices?status=vanished' });
    expect(vanished.json()).toMatchObject({ total: 0, practices: [] });
    for (const bad of ['limit=0', 'limit=abc', 'offset=-1', 'status=gone', 'source=x']) {
      const response = await app.inject({ url: `/api/practices?${bad}` });
      expect(response.statusCode, bad).toBe(400);
    }
  });

  it('adds a practice, shows it with its health, and checks it', async () => {
    const server = await startTestServer((req) =>
      req.url === '/fhir/.well-known/smart-configuration'
        ? {
            body: {
              authorization_endpoint: `${server.url}/authorize`,
              token_endpoint: `${server.url}/token`,
            },
          }
        : { status: 404 },
    );
    servers.push(server);
    const added = await app.inject({
      method: 'POST',
      url: '/api/practices',
      payload: {
        id: 'local-ehr',
        name: 'Local EHR',
        base: `${server.url}/fhir/`,
        address: { city: 'Boston', state: 'MA' },
      },
    });
    expect(added.statusCode).toBe(201);
    expect(added.json()).toEqual({
      id: 'local-ehr',
      name: 'Local EHR',
      base: `${server.url}/fhir`,
      vendor: 'generic',
      registration: null,
      source: 'operator',
      organizationName: null,
      address: { line: null, city: 'Boston', state: 'MA', postalCode: null },
      status: 'active',
      statusReason: null,
      health: { lastCheckedAt: null, discoveryOk: null, lastError: null },
      importedAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
    });

    clock.advance(60_000);
    const checked = await app.inject({ method: 'POST', url: '/api/practices/local-ehr/check' });
    expect(checked.statusCode).toBe(200);
    expect(checked.json().health).toEqual({
      lastCheckedAt: '2026-01-01T00:01:00.000Z',
      discoveryOk: true,
      lastError: null,
    });
    const shown = await app.inject({ url: '/api/practices/local-ehr' });
    expect(shown.json().health.discoveryOk).toBe(true);
  });

  it('refuses plain http on a public host and bad add bodies', async () => {
    const http = await app.inject({
      method: 'POST',
      url: '/api/practices',
      payload: { id: 'x', name: 'x', base: 'http://ehr.example/fhir' },
    });
    expect(http.statusCode).toBe(400);
    expect(http.json().error.message).toMatch(/plain http on a host that is not loopback/);
    for (const payload of [
      { id: 'has space', name: 'x', base: 'https://x/fhir' },
      { id: 'x', name: '', base: 'https://x/fhir' },
      { id: 'x', name: 'x', base: 'https://x/fhir', vendor: 'epic' },
    ]) {
      const response = await app.inject({ method: 'POST', url: '/api/practices', payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
    }
  });

  it('a duplicate is 409, an unknown practice 404', async () => {
    const payload = { id: 'x', name: 'x', base: 'https://x.example/fhir' };
    await app.inject({ method: 'POST', url: '/api/practices', payload });
    const again = await app.inject({ method: 'POST', url: '/api/practices', payload });
    expect(again.statusCode).toBe(409);
    expect((await app.inject({ url: '/api/practices/nope' })).statusCode).toBe(404);
    expect(
      (await app.inject({ method: 'POST', url: '/api/practices/nope/check' })).statusCode,
    ).toBe(404);
    expect((await app.inject({ url: '/api/practices/bad%20id' })).statusCode).toBe(400);
  });

  it('disables and enables a practice', async () => {
    await importFile();
    const disabled = await app.inject({
      method: 'POST',
      url: '/api/practices/JAFJCD/disable',
      payload: { reason: 'patient API switched off' },
    });
    expect(disabled.json()).toMatchObject({
      status: 'disabled',
      statusReason: 'patient API switched off',
    });
    const search = await app.inject({ url: '/api/practices?q=prodtest' });
    expect(search.json().practices).toEqual([]);
    const enabled = await app.inject({ method: 'POST', url: '/api/practices/JAFJCD/enable' });
    expect(enabled.json()).toMatchObject({ status: 'active', statusReason: null });
    const plain = await app.inject({ method: 'POST', url: '/api/practices/JAFJCD/disable' });
    expect(plain.json().statusReason).toBe('disabled by the operator');
  });
});
