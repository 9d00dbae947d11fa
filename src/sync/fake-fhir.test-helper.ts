// Test doubles for the sync's own tests: a small FHIR server on 127.0.0.1 with paged searches
// (next links on a foreign host, as healow writes them), `_lastUpdated`, reads, injectable
// failures and pretty-printed bodies; and an engine wired to it over a real SQLite store; and
// both made fresh for each test of a file (fakeFhirPerTest).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, beforeEach } from 'vitest';
import { createMemoryBudget } from '../budget/memory.ts';
import { createBudgetPolicy } from '../budget/policy.ts';
import { systemClock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { createEventLog } from '../events/log.ts';
import {
  loopbackFetch,
  startServer,
  type TestServer,
  testTarget,
} from '../fhir/http-server.test-helper.ts';
import { createFhirClient, genericProfile } from '../fhir/index.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { connection } from '../store/store.contract.ts';
import { createSyncEngine, type SyncEngine, type SyncEngineOptions } from './engine.ts';
import type { Json } from './extract.ts';

export const PATIENT = 'pat-1';
const PATH = '/fhir/r4/PRAC';

export interface Failure {
  /** Matched against the path and query relative to the base (e.g. `Observation?`, `?_page=`). */
  match: (path: string) => boolean;
  status: number;
  /** How many requests it fails; Infinity for all. */
  times: number;
}

export interface FakeFhir {
  base: string;
  server: TestServer;
  /** Searchable resources by type. */
  searchable: Map<string, Json[]>;
  /** Resources only read (`Type/id`): Practitioner, Binary... */
  readable: Map<string, Json>;
  /** Bodies answered as they are for a path (relative to the base), any content type. */
  raw: Map<string, { contentType: string; body: string }>;
  /** Paths (relative to the base) of every request, in order. */
  requests: string[];
  failures: Failure[];
  /** Requests matching one of these are never answered (a search that hangs). */
  hangs: Array<(path: string) => boolean>;
  /** Page size cap, like a server's maximum `_count`. */
  maxPage: number;
  /** Pretty-print bodies (as a HAPI server with `_pretty=true` does). */
  pretty: boolean;
  /** Adds or replaces a searchable resource, bumping its version and lastUpdated. */
  put(resource: Json, lastUpdated?: string): Json;
  close(): Promise<void>;
}

interface Cursor {
  type: string;
  offset: number;
  count: number;
  gt: number | null;
}

function resourceWithMeta(resource: Json, lastUpdated: string, version: number): Json {
  const { resourceType, id, meta: _meta, ...rest } = resource;
  return { resourceType, id, meta: { versionId: String(version), lastUpdated }, ...rest };
}

export async function startFakeFhir(): Promise<FakeFhir> {
  const searchable = new Map<string, Json[]>();
  const readable = new Map<string, Json>();
  const requests: string[] = [];
  const failures: Failure[] = [];
  const raw = new Map<string, { contentType: string; body: string }>();
  const hangs: Array<(path: string) => boolean> = [];
  const held = new Set<ServerResponse>();
  let base = '';

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json+fhir;charset=UTF-8' });
    res.end(fake.pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body));
  };
  const outcome = (diagnostics: string) => ({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'processing', diagnostics }],
  });

  const page = (res: ServerResponse, cursor: Cursor) => {
    const all = (searchable.get(cursor.type) ?? []).filter((r) => {
      const lu = Date.parse((r.meta as { lastUpdated: string }).lastUpdated);
      return cursor.gt === null || lu > cursor.gt;
    });
    const slice = all.slice(cursor.offset, cursor.offset + cursor.count);
    const more = cursor.offset + cursor.count < all.length;
    const next = Buffer.from(
      JSON.stringify({ ...cursor, offset: cursor.offset + cursor.count }),
    ).toString('base64url');
    send(res, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      total: 50, // wrong on purpose, as healow's
      link: [
        { relation: 'self', url: `http://foreign.example${PATH}/${cursor.type}` },
        // healow's next links name its own host over plain http.
        ...(more ? [{ relation: 'next', url: `http://foreign.example${PATH}?_page=${next}` }] : []),
      ],
      ...(slice.length > 0
        ? {
            entry: slice.map((resource) => ({
              fullUrl: `http://foreign.example${PATH}/${cursor.type}/${resource.id}`,
              resource,
              search: { mode: 'match' },
            })),
          }
        : {}),
    });
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const rest = `${url.pathname.slice(PATH.length).replace(/^\//, '')}${url.search}`;
    requests.push(rest);
    if (hangs.some((h) => h(rest))) {
      held.add(res);
      res.once('close', () => held.delete(res));
      return;
    }
    const failure = failures.find((f) => f.times > 0 && f.match(rest));
    if (failure) {
      failure.times--;
      return send(res, failure.status, outcome(`injected ${failure.status}`));
    }
    const path = url.pathname.slice(PATH.length).replace(/^\//, '');
    const answer = raw.get(rest);
    if (answer) {
      res.writeHead(200, { 'content-type': answer.contentType });
      res.end(answer.body);
      return;
    }
    if (path === '') {
      const text = url.searchParams.get('_page') ?? '';
      try {
        return page(res, JSON.parse(Buffer.from(text, 'base64url').toString()) as Cursor);
      } catch {
        return send(res, 410, outcome('unknown search'));
      }
    }
    const [type, id] = path.split('/') as [string, string | undefined];
    if (id !== undefined) {
      const resource =
        readable.get(`${type}/${id}`) ?? searchable.get(type)?.find((r) => r.id === id);
      return resource ? send(res, 200, resource) : send(res, 404, outcome('not found'));
    }
    const gt = url.searchParams.get('_lastUpdated');
    return page(res, {
      type,
      offset: 0,
      count: Math.min(fake.maxPage, Number(url.searchParams.get('_count') ?? 10)),
      gt: gt ? Date.parse(gt.slice(2)) : null,
    });
  };

  const server = await startServer(handler);
  base = `${server.origin}${PATH}`;
  let version = 0;
  const fake: FakeFhir = {
    base,
    server,
    searchable,
    readable,
    requests,
    failures,
    hangs,
    raw,
    maxPage: 50,
    pretty: false,
    put(resource, lastUpdated = new Date(Date.UTC(2025, 0, 1) + ++version * 1000).toISOString()) {
      const list = searchable.get(resource.resourceType as string) ?? [];
      const index = list.findIndex((r) => r.id === resource.id);
      const meta = list[index]?.meta as Json | undefined;
      const previous = index < 0 || !meta ? 0 : Number(meta.versionId);
      const stored = resourceWithMeta(resource, lastUpdated, previous + 1);
      if (index < 0) list.push(stored);
      else list[index] = stored;
      searchable.set(resource.resourceType as string, list);
      return stored;
    },
    close: () => {
      for (const res of held) res.socket?.destroy();
      return server.close();
    },
  };
  return fake;
}

export interface EngineUnderTest {
  engine: SyncEngine;
  store: Store;
  connectionId: string;
  close(): Promise<void>;
}

/** An engine on a fresh :memory: store, reaching `fake` with the given scopes (generic profile). */
export async function engineFor(
  fake: FakeFhir,
  scopes: string[],
  options: SyncEngineOptions = {},
): Promise<EngineUnderTest> {
  const store = await openSqliteStore({ path: ':memory:' });
  const connectionId = 'con_sync_test';
  await store.connections.insert(
    connection({
      id: connectionId,
      patientId: PATIENT,
      grantedScopes: scopes,
      practiceBase: fake.base,
    }),
  );
  const clock = systemClock;
  const logger = createLogger({ level: 'silent' });
  const budget = createMemoryBudget({ clock, policy: createBudgetPolicy({ limit: 100_000 }) });
  const fhir = createFhirClient({ budget, clock, fetch: loopbackFetch, retries: 0 });
  const engine = createSyncEngine(
    {
      store,
      fhir,
      fhirTarget: async () => testTarget(fake.base, { profile: genericProfile, connectionId }),
      vault: {
        get: async (id) => {
          const c = await store.connections.get(id);
          if (!c) throw new BridgeError('not_found', `unknown connection "${id}"`);
          return c;
        },
      },
      clock,
      logger,
      events: createEventLog({ store, clock, logger }),
    },
    { concurrency: 2, ...options },
  );
  return {
    engine,
    store,
    connectionId,
    async close() {
      await budget.close();
      await store.close();
    },
  };
}

/** This test's fake server, and the engine the test sets up on it. */
export interface FakeFhirPerTest {
  /** The server, the patient already on it. */
  readonly fake: FakeFhir;
  /** An engine reaching the server with `scopes`, closed after the test. */
  engine(scopes: string[], options?: SyncEngineOptions): Promise<EngineUnderTest>;
}

/**
 * A fake FHIR server with the patient on it, started before each test of the calling file, and
 * the engine a test sets up on it: both closed after the test.
 */
export function fakeFhirPerTest(): FakeFhirPerTest {
  let fake: FakeFhir | undefined;
  let under: EngineUnderTest | undefined;
  beforeEach(async () => {
    fake = await startFakeFhir();
    fake.put({ resourceType: 'Patient', id: PATIENT });
  });
  afterEach(async () => {
    await under?.close();
    under = undefined;
    await fake?.close();
    fake = undefined;
  });
  return {
    get fake() {
      if (!fake) throw new Error('the fake FHIR server runs only inside a test');
      return fake;
    },
    async engine(scopes, options = {}) {
      under = await engineFor(this.fake, scopes, options);
      return under;
    },
  };
}
