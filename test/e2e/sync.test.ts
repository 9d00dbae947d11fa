// Record sync end to end over real HTTP: fhirbridge's engine against the simulator. A full sync
// of each test patient equals the simulator's ground truth, key for key; an incremental run
// after changes fetches only the changes; a full run finds a deletion; a revocation mid-sync
// stops the run cleanly and keeps what was stored.
//
// Ground truth is the simulator's `GET /admin/data/{practice}/{patient}/resources`, as plain
// JSON. The FHIR server sends each resource pretty-printed, without `meta.versionId` and with
// decimals as written (`11.0`); the store keeps that text minus whitespace. So a stored row, read
// as JSON and written again, equals the ground truth as served (`asServed`) key for key.
import { afterEach, describe, expect, it } from 'vitest';
import { isBridgeError } from '../../src/common/errors.ts';
import type { SimulatorOptionsInput } from '../../src/simulator/index.ts';
import type { StoredResource } from '../../src/store/port.ts';
import { createSyncEngine, type SyncEngine } from '../../src/sync/index.ts';
import { connectPatient } from './helpers/connect.ts';
import {
  asServed,
  BY_REFERENCE,
  expectedRecord,
  grantedTypesOf,
  type Truth,
} from './helpers/ground-truth.ts';
import { type Stack, startStack } from './helpers/stack.ts';
import { heartRate } from './helpers/vital-signs.ts';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** FHIR requests the bridge made, by path and query (token calls left out). */
function recordingFetch(onFhir?: (url: URL) => Promise<void>) {
  const calls: URL[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname.startsWith('/fhir/r4/')) {
      calls.push(url);
      await onFhir?.(url);
    }
    return fetch(input, init);
  };
  return { calls, fetch: wrapped };
}

async function up(
  fetchImpl?: typeof fetch,
  quirks: SimulatorOptionsInput['quirks'] = {},
): Promise<Stack> {
  stack = await startStack({
    // Above healow's 250/min so that four syncs never wait on the simulator's window.
    simulator: { rateLimit: { limit: 5000 }, quirks },
    // The test runs the engine itself: no background worker syncing the same connection.
    config: { sync: { concurrency: 0, onConnect: false, intervalMs: 0 } },
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
  return stack;
}

/** Types the engine syncs at once. */
const TYPES_IN_FLIGHT = 3;

function engineOf(s: Stack): SyncEngine {
  return createSyncEngine(s.runtime, { concurrency: TYPES_IN_FLIGHT });
}

/** JSON text read and written again: key order kept, decimals as JavaScript numbers. */
const reserialized = (json: string | undefined) =>
  json === undefined ? undefined : JSON.stringify(JSON.parse(json));

async function groundTruth(s: Stack, username: string): Promise<Truth[]> {
  const res = await s.admin(`/data/JAFJCD/${username}/resources`);
  expect(res.status).toBe(200);
  const bundle = (await res.json()) as { entry: Array<{ resource: Truth }> };
  return bundle.entry.map((e) => e.resource);
}

async function stored(s: Stack, connectionId: string): Promise<StoredResource[]> {
  const out: StoredResource[] = [];
  for await (const r of s.runtime.store.resources.iterate(connectionId)) out.push(r);
  return out;
}

describe('sync against the simulator', () => {
  for (const username of ['AdultFemaleFHIR', 'AdultMaleFHIR', 'ChildFemaleFHIR', 'ChildMaleFHIR']) {
    it(`a full sync of ${username} equals the ground truth, key for key, as the server wrote it`, async () => {
      const s = await up();
      const { connectionId } = await connectPatient(s, { username });
      const connection = await s.runtime.vault.get(connectionId);
      const result = await engineOf(s).run(connectionId, { mode: 'full' });
      expect(result.outcome).toBe('succeeded');
      // healow has no Provenance search: the one query it refuses, named in the outcome.
      expect(result.skipped.map((k) => k.what)).toEqual(['Provenance']);
      expect(result.types.Provenance).toMatchObject({ outcome: 'unsupported', resources: 0 });
      // `Patient?_id` and `_lastUpdated` are refused by default, as healow may: a read instead.
      expect(result.notes).toEqual([
        'Patient: complete, by read Patient/{id}: the server refused Patient?_id',
        'Provenance: not supported by this server (the server refused every query for Provenance: ' +
          'Invalid request: The FHIR endpoint on this server does not know how to handle GET ' +
          'operation[Provenance] with parameters [[patient, _count]])',
      ]);
      for (const [type, t] of Object.entries(result.types)) {
        if (type !== 'Provenance') expect(t.outcome, type).toBe('complete');
      }

      const truth = await groundTruth(s, username);
      const expected = expectedRecord(truth, grantedTypesOf(connection.grantedScopes));
      const rows = await stored(s, connectionId);
      const got = new Map(rows.map((r) => [`${r.type}/${r.id}`, r.json]));
      // No duplicates (the key is the row's identity) and nothing more, nothing less.
      expect(rows.length).toBe(got.size);
      expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
      // The ground truth is plain JSON (a decimal 11.0 reads 11 there); the store keeps the
      // server's text, so the two agree once the stored text is read as JSON and written again.
      for (const [k, json] of expected) expect(reserialized(got.get(k)), k).toBe(json);
      expect([...got.values()].some((j) => /"value":\d+\.0[,}]/.test(j))).toBe(true);
      // Every granted compartment type that has data was synced (a sanity check on the filter).
      expect(new Set(rows.map((r) => r.type))).toEqual(
        new Set([...expected.keys()].map((k) => k.split('/')[0])),
      );
      // Observations in no category the searches ask for come by DiagnosticReport.result.
      const results = new Set(
        truth
          .filter((r) => r.resourceType === 'DiagnosticReport')
          .flatMap((r) => (r.result as Array<{ reference: string }> | undefined) ?? [])
          .map((ref) => ref.reference),
      );
      for (const r of rows) {
        expect(r.practiceBase).toBe(s.sim.fhirBase('JAFJCD'));
        if (BY_REFERENCE.has(r.type)) expect(r.source).toBe('read');
        else if (r.source === 'read') expect(results).toContain(`${r.type}/${r.id}`);
        else expect(r.source.split('?')[0]).toBe(r.type);
      }
      expect(result.totals.inserted).toBe(rows.length);
      const events = await s.runtime.store.events.list({ connectionId, limit: 50 });
      expect(events.map((e) => e.type)).toContain('sync.completed');
    });
  }

  it('an incremental run fetches only what changed; a full run finds a deletion', async () => {
    const recorder = recordingFetch();
    // A practice that takes `_lastUpdated` and `Patient?_id` (healow's are unconfirmed).
    const s = await up(recorder.fetch, {
      searchLastUpdated: 'accept',
      searchPatientById: 'accept',
    });
    const { connectionId } = await connectPatient(s, { username: 'AdultMaleFHIR' });
    const engine = engineOf(s);
    const full = await engine.run(connectionId);
    expect(full.mode).toBe('full');
    const truth = await groundTruth(s, 'AdultMaleFHIR');
    const condition = truth.find((r) => r.resourceType === 'Condition') as Truth;
    const patientId = (await s.runtime.vault.get(connectionId)).patientId;

    // The EHR adds a vital sign and changes a condition.
    const added = await s.admin('/data/JAFJCD/AdultMaleFHIR/resources', {
      method: 'POST',
      body: JSON.stringify(heartRate(patientId!, 71, '2026-01-02T09:30:00-05:00')),
    });
    expect(added.status).toBe(201);
    const addedId = ((await added.json()) as Truth).id;
    const changed = await s.admin(
      `/data/JAFJCD/AdultMaleFHIR/resources/Condition/${condition.id}`,
      { method: 'PATCH', body: JSON.stringify({ note: [{ text: 'Reviewed at follow-up.' }] }) },
    );
    expect(changed.status).toBe(200);

    recorder.calls.length = 0;
    const incremental = await engine.run(connectionId);
    expect(incremental.mode).toBe('incremental');
    // One page per search, each asking only for changes since the mark; no reads.
    const plan = await engine.plan(connectionId);
    // Provenance, which this server refused, is not asked again.
    expect(recorder.calls).toHaveLength(
      plan.searches.filter((search) => search.type !== 'Provenance').length,
    );
    for (const url of recorder.calls) {
      expect(url.searchParams.get('_lastUpdated')).toMatch(/^gt\d{4}-/);
    }
    expect(incremental.totals).toMatchObject({
      resources: 2,
      inserted: 1,
      updated: 1,
      unchanged: 0,
    });
    const now = new Map(
      (await groundTruth(s, 'AdultMaleFHIR')).map((r) => [`${r.resourceType}/${r.id}`, r]),
    );
    for (const key of [`Observation/${addedId}`, `Condition/${condition.id}`]) {
      const [type, id] = key.split('/') as [string, string];
      const row = await s.runtime.store.resources.get(connectionId, type, id);
      expect(reserialized(row?.json)).toBe(asServed(now.get(key) as Truth));
    }

    // The EHR deletes an encounter: incremental passes cannot see that, a full pass can.
    const encounter = truth.find((r) => r.resourceType === 'Encounter') as Truth;
    const deleted = await s.admin(
      `/data/JAFJCD/AdultMaleFHIR/resources/Encounter/${encounter.id}`,
      // The admin helper always sends a JSON content type, so the body must be JSON.
      { method: 'DELETE', body: '{}' },
    );
    expect(deleted.status).toBe(204);
    const again = await engine.run(connectionId, { mode: 'full' });
    expect(again.totals.deleted).toBe(1);
    expect(again.totals.inserted + again.totals.updated).toBe(0);
    expect(await s.runtime.store.resources.get(connectionId, 'Encounter', encounter.id)).toBe(
      undefined,
    );
    const kept = await s.runtime.store.resources.get(connectionId, 'Encounter', encounter.id, {
      includeDeleted: true,
    });
    // Marked by this run's diff, not earlier and not later.
    expect(kept?.deletedAt).toBeGreaterThanOrEqual(again.startedAt);
    expect(kept?.deletedAt).toBeLessThanOrEqual(again.finishedAt);
  });

  it('a revocation mid-sync stops the run cleanly and keeps what was stored', async () => {
    let revokeAfter = Number.POSITIVE_INFINITY;
    let s: Stack | undefined;
    const recorder = recordingFetch(async () => {
      if (recorder.calls.length !== revokeAfter) return;
      // The patient revokes the app in the portal while the sync runs.
      const res = await s?.admin('/revoke', {
        method: 'POST',
        body: JSON.stringify({ clientId: 'fhirbridge-sandbox', username: 'AdultFemaleFHIR' }),
      });
      expect(res?.status).toBe(200);
    });
    s = await up(recorder.fetch);
    const { connectionId } = await connectPatient(s, { username: 'AdultFemaleFHIR' });
    recorder.calls.length = 0;
    revokeAfter = 8;
    const error = await engineOf(s)
      .run(connectionId, { runId: 'sync_revoked' })
      .catch((e: unknown) => e);
    expect(isBridgeError(error, 'revoked')).toBe(true);

    expect((await s.runtime.vault.get(connectionId)).state).toBe('revoked');
    const run = await s.runtime.store.sync.getRun('sync_revoked');
    expect(run).toMatchObject({ status: 'failed', reason: 'revoked' });
    // Pages written before the revocation stay.
    const counts = await s.runtime.store.resources.countByType(connectionId);
    const kept = Object.values(counts).reduce((a, b) => a + b, 0);
    const granted = grantedTypesOf((await s.runtime.vault.get(connectionId)).grantedScopes);
    const record = expectedRecord(await groundTruth(s, 'AdultFemaleFHIR'), granted);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(record.size); // stopped mid-way
    const events = await s.runtime.store.events.list({ connectionId, limit: 50 });
    const types = events.map((e) => e.type);
    expect(types).toContain('connection.revoked');
    expect(types).toContain('sync.failed');
    const failed = events.find((e) => e.type === 'sync.failed');
    expect(failed?.data).toMatchObject({ runId: 'sync_revoked', reason: 'revoked' });
    expect(types.indexOf('connection.revoked')).toBeLessThan(types.indexOf('sync.failed'));
    // No call after the refusal: the run stopped instead of trying every other search. Only
    // the types in flight when the grant went may each have sent one request more.
    expect(recorder.calls.length).toBeLessThanOrEqual(revokeAfter + TYPES_IN_FLIGHT);
  });
});
