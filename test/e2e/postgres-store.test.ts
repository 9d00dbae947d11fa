// The whole bridge on PostgreSQL (FHIRBRIDGE_STORE=postgres://...): the real server, a patient
// connected over HTTP, a full sync equal to the simulator's ground truth key for key, and a second
// full run that rewrites nothing. The store's schema is this test's own, dropped after.
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import {
  dropSchema,
  freshSchema,
  TEST_POSTGRES_URL,
} from '../../src/store/postgres/test-schema.test-helper.ts';
import { createSyncEngine } from '../../src/sync/index.ts';
import { connectPatient } from './helpers/connect.ts';
import { expectedRecord, grantedTypesOf, type Truth } from './helpers/ground-truth.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let stack: Stack | undefined;
let schema: string | undefined;
afterEach(async () => {
  await stack?.close();
  if (schema) await dropSchema(schema);
  stack = schema = undefined;
});

it('a patient connected and synced on PostgreSQL: the record equals the ground truth, and a second full run rewrites nothing', async () => {
  schema = freshSchema();
  const s = await startStack({
    simulator: { rateLimit: { limit: 5000 } },
    config: {
      store: { kind: 'postgres', url: TEST_POSTGRES_URL, schema },
      // The test runs the engine itself: no background worker syncing the same connection.
      sync: { concurrency: 0, onConnect: false, intervalMs: 0 },
    },
  });
  stack = s;
  const { connectionId } = await connectPatient(s, { username: 'AdultFemaleFHIR' });
  const listed = (await (await s.api('/api/connections')).json()) as {
    connections: Array<{ id: string; state: string }>;
  };
  expect(listed.connections.map((c) => [c.id, c.state])).toEqual([[connectionId, 'active']]);

  const rt = s.runtime;
  const engine = createSyncEngine(rt);
  const first = await engine.run(connectionId, { mode: 'full' });
  expect(first.outcome).toBe('succeeded');

  const res = await s.admin('/data/JAFJCD/AdultFemaleFHIR/resources');
  const truth = ((await res.json()) as { entry: Array<{ resource: Truth }> }).entry.map(
    (e) => e.resource,
  );
  const connection = await rt.vault.get(connectionId);
  const expected = expectedRecord(truth, grantedTypesOf(connection.grantedScopes));
  const got = new Map<string, string>();
  for await (const r of rt.store.resources.iterate(connectionId))
    got.set(`${r.type}/${r.id}`, r.json);
  expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [k, json] of expected) {
    expect(JSON.stringify(JSON.parse(got.get(k) ?? 'null')), k).toBe(json);
  }
  expect(first.totals.inserted).toBe(got.size);
  // The rows are in this test's schema: the bridge wrote to PostgreSQL, not a file.
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${schema}.resources WHERE connection_id = $1`,
      [connectionId],
    );
    expect(rows[0]?.n).toBe(got.size);
  } finally {
    await client.end();
  }

  const second = await engine.run(connectionId, { mode: 'full' });
  expect(second.outcome).toBe('succeeded');
  expect(second.totals).toMatchObject({ inserted: 0, updated: 0, deleted: 0 });
  const runs = await rt.store.sync.listRuns(connectionId, 5);
  expect(runs.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded']);
});
