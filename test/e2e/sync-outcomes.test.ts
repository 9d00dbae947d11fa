// How a sync degrades against the strict (healow) simulator, end to end over real HTTP: a
// DocumentReference search that never answers costs that type only, within its deadline, and the
// retry of the run sends only what did not finish; refused `_lastUpdated` and `Patient?_id` fall
// back without losing a change, an addition, a deletion or the Patient; wildcard and SMART v2
// discovery still sync the whole record; a grant of no type ends `nothing_granted`;
// DiagnosticReport.result Observations that no category search finds are read by reference.
import { afterEach, describe, expect, it } from 'vitest';
import { isBridgeError } from '../../src/common/errors.ts';
import { US_CORE_OBSERVATION_CATEGORIES } from '../../src/fhir/profiles.ts';
import type { SimulatorOptionsInput } from '../../src/simulator/index.ts';
import type { StoredResource } from '../../src/store/port.ts';
import { createSyncEngine, type SyncEngine, type SyncEngineOptions } from '../../src/sync/index.ts';
import { connectPatient } from './helpers/connect.ts';
import { asServed, expectedRecord, grantedTypesOf, type Truth } from './helpers/ground-truth.ts';
import { type Stack, startStack } from './helpers/stack.ts';
import { heartRate } from './helpers/vital-signs.ts';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const PRACTICE = 'JAFJCD';

/** FHIR requests the bridge made, as paths relative to the practice base with their query. */
function recordingFetch() {
  const calls: string[] = [];
  const wrapped: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const base = `/fhir/r4/${PRACTICE}/`;
    if (url.pathname.startsWith(base))
      calls.push(`${url.pathname.slice(base.length)}${url.search}`);
    return fetch(input, init);
  };
  return { calls, fetch: wrapped };
}

async function up(
  options: {
    quirks?: SimulatorOptionsInput['quirks'];
    fetch?: typeof fetch;
    resourcesPerPatient?: number;
  } = {},
): Promise<Stack> {
  stack = await startStack({
    simulator: {
      rateLimit: { limit: 5000 },
      quirks: options.quirks ?? {},
      ...(options.resourcesPerPatient ? { resourcesPerPatient: options.resourcesPerPatient } : {}),
    },
    // The tests run the engine themselves: no background worker syncing the same connection.
    config: { sync: { concurrency: 0, onConnect: false, intervalMs: 0 } },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return stack;
}

function engineOf(s: Stack, options: SyncEngineOptions = {}): SyncEngine {
  return createSyncEngine(s.runtime, options);
}

async function groundTruth(s: Stack, username: string): Promise<Truth[]> {
  const res = await s.admin(`/data/${PRACTICE}/${username}/resources`);
  expect(res.status).toBe(200);
  const bundle = (await res.json()) as { entry: Array<{ resource: Truth }> };
  return bundle.entry.map((e) => e.resource);
}

async function stored(s: Stack, connectionId: string): Promise<Map<string, StoredResource>> {
  const out = new Map<string, StoredResource>();
  for await (const r of s.runtime.store.resources.iterate(connectionId)) {
    out.set(`${r.type}/${r.id}`, r);
  }
  return out;
}

async function admin(s: Stack, path: string, method: string, body: unknown = {}) {
  const res = await s.admin(path, { method, body: JSON.stringify(body) });
  expect(res.status, `${method} ${path}`).toBeLessThan(300);
  return res.status === 204 ? undefined : ((await res.json()) as Record<string, unknown>);
}

/** Every stored row is what the server sends, key for key (see sync.test.ts). */
function expectRecord(rows: Map<string, StoredResource>, expected: Map<string, string>): void {
  expect([...rows.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [key, json] of expected) {
    expect(JSON.stringify(JSON.parse(rows.get(key)?.json ?? 'null')), key).toBe(json);
  }
}

// Each of these waits out a type's deadline at least once.
describe('a DocumentReference search that never answers', { timeout: 90_000 }, () => {
  it('costs that type only, within its deadline; the retry sends only what did not finish', async () => {
    const recorder = recordingFetch();
    const s = await up({ fetch: recorder.fetch });
    const username = 'AdultFemaleFHIR';
    // Provenance has no search at healow: left out, so that every granted type can complete.
    const { connectionId } = await connectPatient(s, {
      username,
      untick: ['patient/Provenance.read'],
    });
    const granted = grantedTypesOf((await s.runtime.vault.get(connectionId)).grantedScopes);
    await admin(s, '/faults', 'POST', {
      route: 'fhir',
      pathPrefix: `/fhir/r4/${PRACTICE}/DocumentReference`,
      timeout: true,
    });
    // Long enough for every other type on a loaded machine; short beside four 30 s attempts.
    const engine = engineOf(s, { typeDeadlineMs: 8_000 });

    const started = Date.now();
    const first = await engine.run(connectionId, {
      runId: 'sync_hang',
      attempt: { number: 1, max: 3 },
    });
    // One deadline, not four 30 s attempts; the rest ran meanwhile.
    expect(Date.now() - started).toBeLessThan(40_000);
    expect(first.outcome).toBe('partial');
    expect(first.retrying).toBe(true);
    expect(first.types.DocumentReference).toMatchObject({
      outcome: 'timed_out',
      resources: 0,
      reason:
        'DocumentReference did not finish within its deadline of 8 s; its unfinished searches resume on the next attempt',
    });
    for (const [type, t] of Object.entries(first.types)) {
      if (type !== 'DocumentReference') expect(t.outcome, type).toBe('complete');
    }
    // Everything but the documents (and what only they point at), references included.
    const truth = await groundTruth(s, username);
    const withoutDocuments = expectedRecord(
      truth.filter((r) => r.resourceType !== 'DocumentReference'),
      granted,
    );
    const afterFirst = await stored(s, connectionId);
    expectRecord(afterFirst, withoutDocuments);
    expect([...afterFirst.values()].some((r) => r.type === 'Practitioner')).toBe(true);
    const events = await s.runtime.store.events.list({ connectionId, limit: 50 });
    expect(events.at(-1)).toMatchObject({
      type: 'sync.retrying',
      data: {
        runId: 'sync_hang',
        outcome: 'partial',
        attempt: 1,
        maxAttempts: 3,
        types: { DocumentReference: { outcome: 'timed_out' } },
      },
    });

    // The search answers again. The retry of the run: the DocumentReference search, and reads of
    // what the documents point at; nothing that already finished.
    await admin(s, '/faults', 'DELETE');
    await admin(s, '/counters/reset', 'POST');
    await admin(s, '/faults', 'POST', {
      route: 'fhir',
      pathPrefix: `/fhir/r4/${PRACTICE}/DocumentReference`,
    });
    recorder.calls.length = 0;
    const second = await engine.run(connectionId, {
      runId: 'sync_hang',
      attempt: { number: 2, max: 3 },
    });
    expect(second.outcome).toBe('succeeded');
    const searches = recorder.calls.filter((c) => c.includes('?'));
    expect(searches.length).toBeGreaterThan(0);
    for (const call of searches) expect(call).toMatch(/^DocumentReference\?patient=/);
    for (const call of recorder.calls.filter((c) => !c.includes('?'))) {
      expect(afterFirst.has(call), call).toBe(false); // a read of something new
    }
    const [counting] = (await (await s.admin('/faults')).json()) as Array<{ hits: number }>;
    const counters = (await (await s.admin(`/counters/${PRACTICE}`)).json()) as {
      callsTotal: number;
    };
    expect(counting?.hits).toBe(searches.length);
    expect(counters.callsTotal).toBe(recorder.calls.length);

    expectRecord(await stored(s, connectionId), expectedRecord(truth, granted));
    // Counts of the whole run, both attempts: every stored row was new.
    const rows = (await stored(s, connectionId)).size;
    expect(second.totals.inserted).toBe(rows);
    const completed = (await s.runtime.store.events.list({ connectionId, limit: 50 })).at(-1);
    expect(completed).toMatchObject({
      type: 'sync.completed',
      data: { outcome: 'succeeded', mode: 'full', inserted: rows, resources: rows },
    });
  });
});

describe('the same, as a job: the worker retries the run', { timeout: 90_000 }, () => {
  it('a partial attempt says sync.retrying; the retry sends only what did not finish', async () => {
    const recorder = recordingFetch();
    stack = await startStack({
      simulator: { rateLimit: { limit: 5000 } },
      config: {
        sync: {
          concurrency: 1,
          onConnect: false,
          intervalMs: 0,
          typeDeadlineMs: 8_000,
          retryDelayMs: 3_000,
          pollIntervalMs: 100,
        },
      },
      fetch: recorder.fetch,
    });
    const s = stack;
    const { connectionId } = await connectPatient(s, {
      username: 'ChildFemaleFHIR',
      untick: ['patient/Provenance.read'],
    });
    await admin(s, '/faults', 'POST', {
      route: 'fhir',
      pathPrefix: `/fhir/r4/${PRACTICE}/DocumentReference`,
      timeout: true,
    });
    const asked = await s.api(`/api/connections/${connectionId}/sync`, {
      method: 'POST',
      body: '{}',
    });
    expect(asked.status).toBe(202);
    const syncEvents = async () =>
      (await s.runtime.store.events.list({ connectionId, limit: 50 }))
        .filter((e) => e.type.startsWith('sync.'))
        .map((e) => e.type);
    const until = async (what: string, test: () => Promise<boolean>) => {
      for (const end = Date.now() + 20_000; Date.now() < end; ) {
        if (await test()) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`timed out waiting for ${what}`);
    };
    await until('sync.retrying', async () => (await syncEvents()).includes('sync.retrying'));
    const waiting = await (await s.api(`/api/connections/${connectionId}/sync`)).json();
    expect(waiting).toMatchObject({
      status: 'queued',
      next: { retry: true },
      lastRun: { outcome: 'partial', types: { DocumentReference: { outcome: 'timed_out' } } },
    });

    await admin(s, '/faults', 'DELETE');
    recorder.calls.length = 0;
    await until('the retry', async () => {
      const view = await (await s.api(`/api/connections/${connectionId}/sync`)).json();
      return view.status === 'succeeded';
    });
    const done = await (await s.api(`/api/connections/${connectionId}/sync`)).json();
    expect(done.lastRun).toMatchObject({ outcome: 'succeeded', status: 'completed' });
    expect(done.job).toMatchObject({ attempts: 2 });
    const searches = recorder.calls.filter((c) => c.includes('?'));
    expect(searches.length).toBeGreaterThan(0);
    for (const call of searches) expect(call).toMatch(/^DocumentReference\?patient=/);
    expect(await syncEvents()).toEqual(['sync.retrying', 'sync.completed']);
  });
});

describe('queries the practice refuses', () => {
  it('_lastUpdated refused: an incremental run still finds a change, an addition and a deletion', async () => {
    const s = await up({ quirks: { searchLastUpdated: 'refuse' } });
    const username = 'AdultMaleFHIR';
    const { connectionId } = await connectPatient(s, { username });
    const engine = engineOf(s);
    await engine.run(connectionId, { mode: 'full' });
    const truth = await groundTruth(s, username);
    const patientId = (await s.runtime.vault.get(connectionId)).patientId;
    const condition = truth.find((r) => r.resourceType === 'Condition') as Truth;
    const encounter = truth.find((r) => r.resourceType === 'Encounter') as Truth;

    const data = `/data/${PRACTICE}/${username}/resources`;
    await admin(s, `${data}/Condition/${condition.id}`, 'PATCH', {
      note: [{ text: 'Reviewed at follow-up.' }],
    });
    const added = (await admin(
      s,
      data,
      'POST',
      heartRate(patientId!, 71, '2026-01-02T09:30:00-05:00'),
    )) as Truth;
    await admin(s, `${data}/Encounter/${encounter.id}`, 'DELETE');

    const result = await engine.run(connectionId, { mode: 'incremental' });
    expect(result.outcome).toBe('succeeded');
    expect(result.totals).toMatchObject({ inserted: 1, updated: 1, deleted: 1 });
    expect(result.types.Condition?.fallback).toMatch(
      /^a full pass with a diff: the server refused _lastUpdated \(Invalid request: /,
    );
    const now = new Map(
      (await groundTruth(s, username)).map((r) => [`${r.resourceType}/${r.id}`, r]),
    );
    for (const key of [`Observation/${added.id}`, `Condition/${condition.id}`]) {
      const [type, id] = key.split('/') as [string, string];
      const row = await s.runtime.store.resources.get(connectionId, type, id);
      expect(JSON.stringify(JSON.parse(row?.json ?? 'null')), key).toBe(
        asServed(now.get(key) as Truth),
      );
    }
    expect(await s.runtime.store.resources.get(connectionId, 'Encounter', encounter.id)).toBe(
      undefined,
    );
  });

  it('Patient?_id refused: the record still has its Patient, read by id', async () => {
    const recorder = recordingFetch();
    const s = await up({ quirks: { searchPatientById: 'refuse' }, fetch: recorder.fetch });
    const { connectionId } = await connectPatient(s, { username: 'ChildFemaleFHIR' });
    const patientId = (await s.runtime.vault.get(connectionId)).patientId as string;
    const result = await engineOf(s).run(connectionId);
    expect(result.types.Patient).toMatchObject({
      outcome: 'complete',
      resources: 1,
      fallback: 'read Patient/{id}: the server refused Patient?_id',
    });
    const patient = await s.runtime.store.resources.get(connectionId, 'Patient', patientId);
    expect(patient?.source).toBe('Patient');
    expect(recorder.calls).toContain(`Patient/${patientId}`);
  });
});

describe('what the grant covers', () => {
  for (const scopesSupported of ['wildcard-v1', 'wildcard-v2'] as const) {
    it(`a ${scopesSupported} discovery document still syncs the whole record`, async () => {
      const s = await up({ quirks: { scopesSupported } });
      const username = 'ChildMaleFHIR';
      const { connectionId } = await connectPatient(s, { username });
      const connection = await s.runtime.vault.get(connectionId);
      const result = await engineOf(s).run(connectionId, { mode: 'full' });
      expect(result.outcome).toBe('succeeded');
      expect(result.totals.resources).toBeGreaterThan(100);
      const truth = await groundTruth(s, username);
      expectRecord(
        await stored(s, connectionId),
        expectedRecord(truth, grantedTypesOf(connection.grantedScopes)),
      );
    });
  }

  it('a grant of no resource type ends nothing_granted, with sync.failed once', async () => {
    const s = await up();
    const discovered = (await (
      await fetch(`${s.sim.fhirBase(PRACTICE)}/.well-known/smart-configuration`)
    ).json()) as { scopes_supported: string[] };
    const { connectionId } = await connectPatient(s, {
      untick: discovered.scopes_supported.filter((scope) => scope.startsWith('patient/')),
    });
    const error = await engineOf(s)
      .run(connectionId, { runId: 'sync_none', attempt: { number: 1, max: 5 } })
      .catch((e: unknown) => e);
    expect(isBridgeError(error, 'scope_denied')).toBe(true);
    expect(await s.runtime.store.sync.getRun('sync_none')).toMatchObject({
      status: 'failed',
      outcome: 'nothing_granted',
    });
    const events = await s.runtime.store.events.list({ connectionId, limit: 50 });
    expect(events.filter((e) => e.type.startsWith('sync.')).map((e) => [e.type, e.data])).toEqual([
      [
        'sync.failed',
        expect.objectContaining({
          outcome: 'nothing_granted',
          reason: 'nothing_granted',
          final: true,
        }),
      ],
    ]);
  });
});

describe('references worth following', () => {
  it('DiagnosticReport.result Observations no category search finds are read by reference', async () => {
    const recorder = recordingFetch();
    const s = await up({ fetch: recorder.fetch });
    const username = 'AdultFemaleFHIR';
    const { connectionId } = await connectPatient(s, { username });
    const patientId = (await s.runtime.vault.get(connectionId)).patientId;
    const data = `/data/${PRACTICE}/${username}/resources`;
    // A result with no category at all: none of the category searches returns it.
    const loose = (await admin(s, data, 'POST', {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }], text: 'Glucose' },
      subject: { reference: `Patient/${patientId}` },
      valueQuantity: { value: 5.4, unit: 'mmol/L' },
    })) as Truth;
    const report = (await admin(s, data, 'POST', {
      resourceType: 'DiagnosticReport',
      status: 'final',
      code: { text: 'Glucose panel' },
      subject: { reference: `Patient/${patientId}` },
      result: [{ reference: `Observation/${loose.id}` }],
    })) as Truth;
    await engineOf(s).run(connectionId);
    const row = await s.runtime.store.resources.get(connectionId, 'Observation', loose.id);
    expect(row?.source).toBe('read');
    expect(
      (await s.runtime.store.resources.get(connectionId, 'DiagnosticReport', report.id))?.source,
    ).toBe('DiagnosticReport');
    expect(recorder.calls.filter((c) => c === `Observation/${loose.id}`)).toHaveLength(1);
  });

  /** AdultMaleFHIR's record capped at 300 resources, connected and synced in full, calls recorded. */
  async function fullSyncAt300(quirks?: SimulatorOptionsInput['quirks']) {
    const recorder = recordingFetch();
    const s = await up({ fetch: recorder.fetch, resourcesPerPatient: 300, quirks });
    const username = 'AdultMaleFHIR';
    const { connectionId } = await connectPatient(s, { username });
    const granted = grantedTypesOf((await s.runtime.vault.get(connectionId)).grantedScopes);
    const result = await engineOf(s).run(connectionId, { mode: 'full' });
    expect(result.outcome).toBe('succeeded');
    return { recorder, s, username, connectionId, granted, result };
  }

  it('every result a DiagnosticReport names is read once, and the whole capped record arrives', async () => {
    // At 300 resources the simulator's size cap ends AdultMaleFHIR's record at JAFJCD right
    // after its last lab panel's results: the cap keeps the panel's report, so its point-of-care
    // result, in no category the healow searches ask for, still comes by reference.
    const { recorder, s, username, connectionId, granted, result } = await fullSyncAt300();

    const truth = await groundTruth(s, username);
    const reports = truth.filter((r) => r.resourceType === 'DiagnosticReport');
    const named = new Set(
      reports.flatMap((r) => (r.result as Array<{ reference: string }>).map((x) => x.reference)),
    );
    const pointOfCare = truth.filter(
      (r) =>
        r.resourceType === 'Observation' && JSON.stringify(r.category).includes('point-of-care'),
    );
    expect(pointOfCare.length).toBeGreaterThan(5);
    for (const o of pointOfCare) expect(named).toContain(`Observation/${o.id}`);

    const expected = expectedRecord(truth, granted);
    const rows = await stored(s, connectionId);
    expectRecord(rows, expected);
    for (const ref of named) {
      const row = rows.get(ref);
      expect(row, ref).toBeDefined();
      const reads = recorder.calls.filter((c) => c === ref);
      // Read by reference when no category search brought it, once; else no call.
      expect(reads, ref).toHaveLength(row?.source === 'read' ? 1 : 0);
    }
    expect(result.totals.inserted).toBe(rows.size);
  });

  /** The record of a sync, the reads by reference it sent and the DiagnosticReport searches. */
  async function syncWithIncludes(searchInclude: 'accept' | 'refuse') {
    const { recorder, s, username, connectionId, granted, result } = await fullSyncAt300({
      searchInclude,
    });
    const truth = await groundTruth(s, username);
    expectRecord(await stored(s, connectionId), expectedRecord(truth, granted));
    // The results no category search returns (from the ground truth): a report's include or a
    // read brings them, stored as reads; every other Observation stays its search's row.
    const searched = new Set<string>(US_CORE_OBSERVATION_CATEGORIES);
    const broughtByReport = truth
      .filter(
        (r) =>
          r.resourceType === 'Observation' &&
          !JSON.stringify(r.category ?? [])
            .match(/"code":"[^"]+"/g)
            ?.some((c) => searched.has(c.slice(8, -1))),
      )
      .map((r) => `Observation/${r.id}`)
      .sort();
    expect(broughtByReport.length).toBeGreaterThan(5);
    const rows = await stored(s, connectionId);
    const storedAsRead = [...rows.values()]
      .filter((r) => r.type === 'Observation' && r.source === 'read')
      .map((r) => `Observation/${r.id}`);
    expect(storedAsRead.sort()).toEqual(broughtByReport);
    const reads = recorder.calls.filter((c) => broughtByReport.includes(c));
    const reportSearches = recorder.calls.filter((c) => c.startsWith('DiagnosticReport?'));
    return { s, connectionId, result, recorder, broughtByReport, reads, reportSearches };
  }

  it('a practice that accepts _include sends the results with the reports: no read for them', async () => {
    const { reads, reportSearches, s, connectionId } = await syncWithIncludes('accept');
    expect(reads).toEqual([]);
    expect(reportSearches).toHaveLength(1);
    expect(new URLSearchParams(reportSearches[0]?.split('?')[1]).getAll('_include')).toEqual([
      'DiagnosticReport:result',
    ]);
    const base = (await s.runtime.fhirTarget(connectionId)).base;
    const refusals = await s.runtime.store.sync.refusals(base, s.runtime.clock.now());
    expect(refusals.map((r) => r.query)).not.toContain('DiagnosticReport?_include');
  });

  it('a practice that refuses _include: asked once, remembered, each result read by reference', async () => {
    const { reads, reportSearches, broughtByReport, s, connectionId, recorder } =
      await syncWithIncludes('refuse');
    expect(reads.sort()).toEqual([...broughtByReport].sort());
    // The search with the include (refused), then the same search without it.
    expect(reportSearches.map((c) => c.includes('_include='))).toEqual([true, false]);
    const base = (await s.runtime.fhirTarget(connectionId)).base;
    const refusals = await s.runtime.store.sync.refusals(base, s.runtime.clock.now());
    expect(refusals.map((r) => r.query)).toContain('DiagnosticReport?_include');

    recorder.calls.length = 0;
    await engineOf(s).run(connectionId, { mode: 'full' });
    const again = recorder.calls.filter((c) => c.startsWith('DiagnosticReport?'));
    expect(again.map((c) => c.includes('_include='))).toEqual([false]);
  });
});
