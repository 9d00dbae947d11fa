// The record API in-process (fastify inject) over a real SQLite file: searchsets with paging and
// filters, reads, OperationOutcome errors, and the streamed exports.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { installErrorHandling } from '../http/errors.ts';
import type { ResourceWrite, Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { connection } from '../store/store.contract.ts';
import { registerResourceRoutes } from './resources.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-resources-api-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CON = 'con_abcdefghijkl';
const BASE = 'https://fhir4.healow.com/fhir/r4/JAFJCD';
const PUBLIC = 'https://bridge.example';

function observation(n: number, code = '8867-4'): ResourceWrite {
  const id = `obs-${String(n).padStart(4, '0')}`;
  const lastUpdated = new Date(Date.UTC(2025, 0, 1 + n)).toISOString();
  const effective = new Date(Date.UTC(2024, 0, 1 + n)).toISOString();
  return {
    type: 'Observation',
    id,
    versionId: '1',
    lastUpdated,
    lastUpdatedMs: Date.parse(lastUpdated),
    dateStart: Date.parse(effective),
    dateEnd: Date.parse(effective) + 1000,
    json: `{"resourceType":"Observation","id":"${id}","code":{"coding":[{"system":"http://loinc.org","code":"${code}"}]},"valueQuantity":{"value":70.0}}`,
  };
}

let store: Store;
let app: FastifyInstance;

beforeEach(async () => {
  store = await openSqliteStore({ path: join(mkdtempSync(join(root, 't-')), 'store.db') });
  await store.connections.insert(connection({ id: CON }));
  await store.resources.savePage({
    connectionId: CON,
    practiceBase: BASE,
    fetchedAt: 1,
    source: 'Observation?category=vital-signs',
    sweep: null,
    resources: [
      ...Array.from({ length: 7 }, (_, i) => observation(i + 1, i % 2 ? '8480-6' : '8867-4')),
      {
        ...observation(0),
        type: 'Patient',
        id: 'pat-1',
        dateStart: null,
        dateEnd: null,
        json: '{"resourceType":"Patient","id":"pat-1"}',
      },
    ],
  });
  app = Fastify();
  installErrorHandling(app);
  registerResourceRoutes(app, {
    store,
    clock: new ManualClock(Date.UTC(2026, 0, 1)),
    config: { publicUrl: PUBLIC },
  });
  await app.ready();
});

afterEach(async () => {
  await app.close();
  await store.close();
});

interface SearchBundle {
  resourceType: string;
  type: string;
  link: Array<{ relation: string; url: string }>;
  entry: Array<{ fullUrl: string; resource: { id: string } }>;
}

async function search(path: string): Promise<SearchBundle> {
  const res = await app.inject({ method: 'GET', url: path });
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
  return res.json() as SearchBundle;
}

const ids = (b: SearchBundle) => b.entry.map((e) => e.resource.id);
const path = (url: string) => url.slice(PUBLIC.length);

describe('GET /api/connections/:id/resources/:type', () => {
  it('pages with _count and an opaque cursor until no next link is left', async () => {
    const first = await search(`/api/connections/${CON}/resources/Observation?_count=3`);
    expect(first.type).toBe('searchset');
    expect(ids(first)).toEqual(['obs-0001', 'obs-0002', 'obs-0003']);
    expect(first.entry[0]?.fullUrl).toBe(
      `${PUBLIC}/api/connections/${CON}/resources/Observation/obs-0001`,
    );
    const next = first.link.find((l) => l.relation === 'next')?.url ?? '';
    expect(next).toContain('_cursor=');
    const second = await search(path(next));
    expect(ids(second)).toEqual(['obs-0004', 'obs-0005', 'obs-0006']);
    const third = await search(path(second.link.find((l) => l.relation === 'next')?.url ?? ''));
    expect(ids(third)).toEqual(['obs-0007']);
    expect(third.link.map((l) => l.relation)).toEqual(['self']);
  });

  it('keeps the stored text as sent (the decimal 70.0 is not rewritten)', async () => {
    const res = await app.inject(`/api/connections/${CON}/resources/Observation?_count=1`);
    expect(res.body).toContain('"valueQuantity":{"value":70.0}');
  });

  it('filters on _lastUpdated, code and date, keeping the filters in the next link', async () => {
    expect(
      ids(await search(`/api/connections/${CON}/resources/Observation?_lastUpdated=gt2025-01-06`)),
    ).toEqual(['obs-0006', 'obs-0007']);
    expect(
      ids(
        await search(
          `/api/connections/${CON}/resources/Observation?_lastUpdated=ge2025-01-03&_lastUpdated=lt2025-01-05`,
        ),
      ),
    ).toEqual(['obs-0002', 'obs-0003']);
    const byCode = await search(
      `/api/connections/${CON}/resources/Observation?code=http://loinc.org|8480-6&_count=2`,
    );
    expect(ids(byCode)).toEqual(['obs-0002', 'obs-0004']);
    const next = new URL(byCode.link.find((l) => l.relation === 'next')?.url ?? '');
    expect(next.searchParams.get('code')).toBe('http://loinc.org|8480-6');
    expect(ids(await search(path(next.href)))).toEqual(['obs-0006']);
    expect(
      ids(await search(`/api/connections/${CON}/resources/Observation?date=2024-01-03`)),
    ).toEqual(['obs-0002']);
    expect(
      ids(
        await search(`/api/connections/${CON}/resources/Observation?date=le2024-01-03&code=8867-4`),
      ),
    ).toEqual(['obs-0001']);
  });

  it('answers an empty searchset for a type with nothing stored', async () => {
    const empty = await search(`/api/connections/${CON}/resources/Condition`);
    expect(empty.entry).toEqual([]);
  });

  it('refuses unknown parameters, bad values and unknown connections with an OperationOutcome', async () => {
    for (const [url, status] of [
      [`/api/connections/${CON}/resources/Condition?code=x`, 400],
      [`/api/connections/${CON}/resources/Observation?_count=0`, 400],
      [`/api/connections/${CON}/resources/Observation?date=sa2024`, 400],
      [`/api/connections/${CON}/resources/Observation?_lastUpdated=yesterday`, 400],
      [`/api/connections/${CON}/resources/Observation?_cursor=bm9wZQ`, 400],
      ['/api/connections/con_unknownconn1/resources/Observation', 404],
      [`/api/connections/${CON}/resources/observation`, 400],
      [`/api/connections/${CON}/resources/Observaton`, 400],
      [`/api/connections/${CON}/resources/Foo/1`, 400],
    ] as const) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(status);
      expect(res.json().resourceType, url).toBe('OperationOutcome');
    }
  });

  it('caps _count at 1000', async () => {
    const res = await search(`/api/connections/${CON}/resources/Observation?_count=5000`);
    expect(res.entry).toHaveLength(7);
  });
});

describe('GET /api/connections/:id/resources/:type/:id', () => {
  it('answers the stored text with its version as ETag', async () => {
    const res = await app.inject(`/api/connections/${CON}/resources/Observation/obs-0002`);
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(observation(2, '8480-6').json);
    expect(res.headers.etag).toBe('W/"1"');
    expect(res.headers['last-modified']).toBe(new Date(Date.UTC(2025, 0, 3)).toUTCString());
  });

  it('is a 404 OperationOutcome for a resource not in the record', async () => {
    const res = await app.inject(`/api/connections/${CON}/resources/Observation/nope`);
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome' });
  });
});

describe('GET /api/connections/:id/export', () => {
  it('ndjson without a type answers a manifest with one file per type', async () => {
    const res = await app.inject(`/api/connections/${CON}/export?format=ndjson`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      transactionTime: '2026-01-01T00:00:00.000Z',
      request: `${PUBLIC}/api/connections/${CON}/export?format=ndjson`,
      requiresAccessToken: true,
      output: [
        {
          type: 'Observation',
          url: `${PUBLIC}/api/connections/${CON}/export?format=ndjson&type=Observation`,
          count: 7,
        },
        {
          type: 'Patient',
          url: `${PUBLIC}/api/connections/${CON}/export?format=ndjson&type=Patient`,
          count: 1,
        },
      ],
      error: [],
    });
  });

  it('ndjson with a type streams one resource per line', async () => {
    const res = await app.inject(`/api/connections/${CON}/export?format=ndjson&type=Observation`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+ndjson/);
    const lines = res.body.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toEqual(
      Array.from({ length: 7 }, (_, i) => observation(i + 1, i % 2 ? '8480-6' : '8867-4').json),
    );
  });

  it('bundle streams one collection Bundle of everything', async () => {
    const res = await app.inject(`/api/connections/${CON}/export?format=bundle`);
    expect(res.statusCode).toBe(200);
    const bundle = res.json() as {
      type: string;
      timestamp: string;
      entry: Array<{ fullUrl: string; resource: { resourceType: string; id: string } }>;
    };
    expect(bundle.type).toBe('collection');
    expect(bundle.timestamp).toBe('2026-01-01T00:00:00.000Z');
    expect(bundle.entry).toHaveLength(8);
    expect(bundle.entry[7]).toEqual({
      fullUrl: `${BASE}/Patient/pat-1`,
      resource: { resourceType: 'Patient', id: 'pat-1' },
    });
  });

  it('streams a large record in chunks', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => observation(i + 100));
    await store.resources.savePage({
      connectionId: CON,
      practiceBase: BASE,
      fetchedAt: 2,
      source: 'Observation?category=laboratory',
      sweep: null,
      resources: many,
    });
    const res = await app.inject(`/api/connections/${CON}/export?format=bundle`);
    const bundle = res.json() as { entry: unknown[] };
    expect(bundle.entry).toHaveLength(3008);
  });

  it('refuses an unknown format or connection with an OperationOutcome', async () => {
    const bad = await app.inject(`/api/connections/${CON}/export?format=csv`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().resourceType).toBe('OperationOutcome');
    const missing = await app.inject('/api/connections/con_unknownconn1/export?format=bundle');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().resourceType).toBe('OperationOutcome');
  });
});
