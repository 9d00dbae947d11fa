// One bad type costs that type: a hanging search times out within the type's deadline while the
// rest of the record (and its references) syncs, and the retry of the run sends only what did not
// finish; refused queries fall back (Patient by read, a full pass with a diff instead of
// `_lastUpdated`) and are remembered per practice; DiagnosticReport.result is followed; a grant of
// no type ends `nothing_granted`; events say retrying or failed for good, with exact counts.
import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import type { SyncEngineOptions } from './engine.ts';
import type { Json } from './extract.ts';
import { type EngineUnderTest, fakeFhirPerTest, PATIENT } from './fake-fhir.test-helper.ts';

const each = fakeFhirPerTest();

const read = (...types: string[]) => types.map((t) => `patient/${t}.read`);

const setup = (scopes: string[], options: SyncEngineOptions = {}) => each.engine(scopes, options);

async function storedKeys(u: EngineUnderTest): Promise<string[]> {
  const out: string[] = [];
  for await (const r of u.store.resources.iterate(u.connectionId)) out.push(`${r.type}/${r.id}`);
  return out.sort();
}

async function eventsOf(u: EngineUnderTest) {
  return u.store.events.list({ connectionId: u.connectionId, limit: 50 });
}

function put(type: string, id: string, extra: Json = {}): void {
  each.fake.put({ resourceType: type, id, subject: { reference: `Patient/${PATIENT}` }, ...extra });
}

describe('a type that hangs', () => {
  it('times out within its deadline; the rest syncs; the retry sends only its searches', async () => {
    for (let i = 0; i < 3; i++) {
      put('Observation', `obs-${i}`, { performer: [{ reference: 'Practitioner/pr-1' }] });
      put('DocumentReference', `doc-${i}`);
    }
    each.fake.readable.set('Practitioner/pr-1', { resourceType: 'Practitioner', id: 'pr-1' });
    const hang = (path: string) => path.startsWith('DocumentReference?');
    each.fake.hangs.push(hang);
    const u = await setup(read('Patient', 'Observation', 'DocumentReference', 'Practitioner'), {
      typeDeadlineMs: 1_000,
      requestTimeoutMs: 60_000,
    });

    const started = Date.now();
    const first = await u.engine.run(u.connectionId, {
      runId: 'sync_hang',
      attempt: { number: 1, max: 3 },
    });
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(first.outcome).toBe('partial');
    expect(first.retrying).toBe(true);
    expect(first.types.DocumentReference).toMatchObject({
      outcome: 'timed_out',
      resources: 0,
      reason: expect.stringContaining('did not finish within its deadline of 1 s'),
    });
    for (const type of ['Patient', 'Observation', 'Practitioner']) {
      expect(first.types[type]?.outcome, type).toBe('complete');
    }
    expect(await storedKeys(u)).toEqual([
      'Observation/obs-0',
      'Observation/obs-1',
      'Observation/obs-2',
      `Patient/${PATIENT}`,
      'Practitioner/pr-1',
    ]);
    expect(first.notes).toEqual([
      'DocumentReference: timed out (DocumentReference did not finish within its deadline of 1 s; its unfinished searches resume on the next attempt)',
    ]);
    const retrying = (await eventsOf(u)).at(-1);
    expect(retrying).toMatchObject({
      type: 'sync.retrying',
      data: { runId: 'sync_hang', outcome: 'partial', attempt: 1, maxAttempts: 3, inserted: 5 },
    });

    // The server answers again: the retry of the run sends the DocumentReference search only.
    each.fake.hangs.length = 0;
    each.fake.requests.length = 0;
    const second = await u.engine.run(u.connectionId, {
      runId: 'sync_hang',
      attempt: { number: 2, max: 3 },
    });
    expect(each.fake.requests).toEqual([
      expect.stringMatching(/^DocumentReference\?patient=pat-1&/),
    ]);
    expect(second.outcome).toBe('succeeded');
    expect(second.types.DocumentReference?.outcome).toBe('complete');
    // Counts of both attempts, exactly: every stored row was new in this run.
    expect(second.totals).toMatchObject({ resources: 8, inserted: 8, calls: 5 });
    const completed = (await eventsOf(u)).at(-1);
    expect(completed).toMatchObject({
      type: 'sync.completed',
      data: { outcome: 'succeeded', mode: 'full', resources: 8, inserted: 8, calls: 5 },
    });
    expect((await eventsOf(u)).map((e) => e.type)).toEqual(['sync.retrying', 'sync.completed']);
  });
});

describe('refused queries', () => {
  it('without _lastUpdated, an incremental run is a full pass with a diff, remembered', async () => {
    put('Condition', 'c-1');
    put('Condition', 'c-2');
    put('Encounter', 'e-1');
    put('Encounter', 'e-2');
    const u = await setup(read('Patient', 'Condition', 'Encounter'));
    await u.engine.run(u.connectionId, { mode: 'full' });

    put('Condition', 'c-1', { note: [{ text: 'changed' }] });
    put('Condition', 'c-3');
    each.fake.searchable.set(
      'Encounter',
      (each.fake.searchable.get('Encounter') ?? []).filter((r) => r.id !== 'e-2'),
    );
    each.fake.failures.push({ match: (p) => p.includes('_lastUpdated='), status: 400, times: 1e9 });
    const result = await u.engine.run(u.connectionId, { mode: 'incremental' });
    expect(result.outcome).toBe('succeeded');
    expect(result.mode).toBe('full');
    expect(result.totals).toMatchObject({ inserted: 1, updated: 1, deleted: 1 });
    expect(result.types.Condition?.fallback).toBe(
      'a full pass with a diff: the server refused _lastUpdated (injected 400)',
    );
    expect(await storedKeys(u)).not.toContain('Encounter/e-2');
    expect(
      (await u.store.sync.refusals(each.fake.base, Date.now())).map((r) => r.query).sort(),
    ).toEqual(['Condition?_lastUpdated', 'Encounter?_lastUpdated', 'Patient?_lastUpdated']);

    // The next incremental run goes straight to full passes: nothing refused is asked again.
    each.fake.requests.length = 0;
    const next = await u.engine.run(u.connectionId, { mode: 'incremental' });
    expect(each.fake.requests.filter((p) => p.includes('_lastUpdated'))).toEqual([]);
    expect(next.types.Encounter?.fallback).toBe(
      'a full pass with a diff: this practice refuses _lastUpdated on Encounter',
    );
  });

  it('Patient?_id refused: the Patient is read by id, and later syncs read it directly', async () => {
    const u = await setup(read('Patient'));
    each.fake.failures.push({ match: (p) => p.startsWith('Patient?'), status: 400, times: 1e9 });
    const result = await u.engine.run(u.connectionId);
    expect(result.outcome).toBe('succeeded');
    expect(result.types.Patient).toMatchObject({
      outcome: 'complete',
      resources: 1,
      fallback: 'read Patient/{id}: the server refused Patient?_id',
    });
    expect(await storedKeys(u)).toEqual([`Patient/${PATIENT}`]);
    each.fake.requests.length = 0;
    await u.engine.run(u.connectionId);
    expect(each.fake.requests).toEqual([`Patient/${PATIENT}`]);
  });

  it('a type refused on every query is unsupported: said in the notes, never retried', async () => {
    put('Condition', 'c-1');
    const u = await setup(read('Patient', 'Condition'));
    each.fake.failures.push({ match: (p) => p.startsWith('Condition?'), status: 400, times: 1e9 });
    const result = await u.engine.run(u.connectionId, { attempt: { number: 1, max: 3 } });
    // A fact about the server: the rest of the record is all there is to have.
    expect(result.outcome).toBe('succeeded');
    expect(result.retrying).toBe(false);
    expect(result.types.Condition).toMatchObject({
      outcome: 'unsupported',
      reason: expect.stringContaining('the server refused every query for Condition'),
    });
    expect(result.notes).toEqual([
      expect.stringMatching(/^Condition: not supported by this server \(the server refused/),
    ]);
    const [event] = await eventsOf(u);
    expect(event).toMatchObject({
      type: 'sync.completed',
      data: { outcome: 'succeeded', types: { Condition: { outcome: 'unsupported' } } },
    });
    // Remembered: the next sync does not ask again.
    each.fake.requests.length = 0;
    await u.engine.run(u.connectionId);
    expect(each.fake.requests.filter((p) => p.startsWith('Condition'))).toEqual([]);
  });
});

describe('references the profile follows', () => {
  it('DiagnosticReport.result Observations the searches missed are read by reference', async () => {
    put('Observation', 'obs-found');
    each.fake.readable.set('Observation/obs-missed', {
      resourceType: 'Observation',
      id: 'obs-missed',
      status: 'final',
    });
    put('DiagnosticReport', 'dr-1', {
      result: [{ reference: 'Observation/obs-found' }, { reference: 'Observation/obs-missed' }],
    });
    const u = await setup(read('Patient', 'Observation', 'DiagnosticReport'));
    await u.engine.run(u.connectionId);
    expect(await storedKeys(u)).toContain('Observation/obs-missed');
    expect((await u.store.resources.get(u.connectionId, 'Observation', 'obs-missed'))?.source).toBe(
      'read',
    );
    expect(each.fake.requests).toContain('Observation/obs-missed');
    expect(each.fake.requests).not.toContain('Observation/obs-found');
    const found = (await u.store.sync.references(u.connectionId)).find((r) => r.id === 'obs-found');
    expect(found?.status).toBe('done');
  });
});

describe('how a run ends', () => {
  it('a grant of no resource type ends nothing_granted, failed for good', async () => {
    const u = await setup(['openid', 'launch/patient', 'offline_access']);
    const error = await u.engine
      .run(u.connectionId, { runId: 'sync_none', attempt: { number: 1, max: 5 } })
      .catch((e: unknown) => e);
    expect(isBridgeError(error, 'scope_denied')).toBe(true);
    expect(await u.store.sync.getRun('sync_none')).toMatchObject({
      status: 'failed',
      outcome: 'nothing_granted',
      reason: 'nothing_granted',
    });
    expect((await eventsOf(u)).map((e) => [e.type, e.data.final, e.data.reason])).toEqual([
      ['sync.failed', true, 'nothing_granted'],
    ]);
    expect(each.fake.requests).toEqual([]);
  });

  it('a run whose job ran out of attempts in dying processes ends failed, said once', async () => {
    put('Observation', 'obs-1');
    const u = await setup(read('Patient', 'Observation'));
    // A run left `running` by a process that died: what it saved is all there is.
    await u.store.sync.createRun({
      id: 'sync_dead',
      connectionId: u.connectionId,
      mode: 'auto',
      status: 'running',
      startedAt: 1,
      finishedAt: null,
      progress: {
        Patient: { status: 'done', outcome: 'complete', resources: 1, pages: 1, inserted: 1 },
      },
      result: null,
      reason: null,
      error: null,
      updatedAt: 1,
    });
    await u.engine.abandon(u.connectionId, 'sync_dead', {
      reason: 'lease_exhausted',
      error: 'its runner stopped without finishing (lease lapsed) on the last attempt',
      attempts: 5,
    });
    expect(await u.store.sync.getRun('sync_dead')).toMatchObject({
      status: 'failed',
      outcome: 'failed',
      reason: 'lease_exhausted',
    });
    // Said once: a second announcement of the same run finds it ended.
    await u.engine.abandon(u.connectionId, 'sync_dead', {
      reason: 'lease_exhausted',
      error: 'again',
      attempts: 5,
    });
    expect((await eventsOf(u)).map((e) => [e.type, e.data])).toEqual([
      [
        'sync.failed',
        expect.objectContaining({
          runId: 'sync_dead',
          reason: 'lease_exhausted',
          final: true,
          attempts: 5,
          resources: 1,
          inserted: 1,
        }),
      ],
    ]);
  });

  it('an attempt that will be retried says sync.retrying; the last says sync.failed once', async () => {
    put('Observation', 'obs-1');
    const u = await setup(read('Observation'));
    each.fake.failures.push({
      match: (p) => p.startsWith('Observation?'),
      status: 500,
      times: 1e9,
    });
    for (let attempt = 1; attempt <= 3; attempt++) {
      await u.engine
        .run(u.connectionId, { runId: 'sync_x', attempt: { number: attempt, max: 3 } })
        .catch(() => undefined);
    }
    const events = await eventsOf(u);
    expect(events.map((e) => [e.type, e.data.attempt ?? e.data.attempts, e.data.final])).toEqual([
      ['sync.retrying', 1, undefined],
      ['sync.retrying', 2, undefined],
      ['sync.failed', 3, true],
    ]);
    expect(await u.store.sync.getRun('sync_x')).toMatchObject({
      status: 'failed',
      outcome: 'failed',
    });
  });
});
