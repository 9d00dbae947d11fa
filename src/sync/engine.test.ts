// The engine against a small each.fake FHIR server over real HTTP: paging along rebased links,
// checkpoints and resume after a failure, expired page links, refused searches, the full-pass
// diff, incremental passes, references and attachments, abort, and the text kept as sent.
import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import { runStartedNow } from './engine.ts';
import type { Json } from './extract.ts';
import { type EngineUnderTest, fakeFhirPerTest, PATIENT } from './fake-fhir.test-helper.ts';

const ALL = ['launch/patient', 'patient/*.read'];

const each = fakeFhirPerTest();

const setup = (scopes = ALL, options = {}) => each.engine(scopes, options);

function observations(n: number, extra: (i: number) => Json = () => ({})): void {
  for (let i = 0; i < n; i++) {
    each.fake.put({
      resourceType: 'Observation',
      id: `obs-${String(i).padStart(3, '0')}`,
      status: 'final',
      subject: { reference: `Patient/${PATIENT}` },
      ...extra(i),
    });
  }
}

async function storedIds(u: EngineUnderTest, type: string): Promise<string[]> {
  const out: string[] = [];
  for await (const r of u.store.resources.iterate(u.connectionId, { type })) out.push(r.id);
  return out;
}

const pagesOf = (type: string) => (path: string) =>
  path.startsWith(`${type}?`) ||
  (path.startsWith('?_page=') &&
    JSON.parse(Buffer.from(path.slice(7), 'base64url').toString()).type === type);

describe('a full sync', () => {
  it('pages every search at the largest page size along rebased next links', async () => {
    observations(120);
    const u = await setup(['patient/Patient.read', 'patient/Observation.read'], {
      profiles: { generic: { maxPageSize: 50 } },
    });
    const progress: number[] = [];
    const result = await u.engine.run(u.connectionId, {
      onProgress: (p) => progress.push(p.types.Observation?.resources ?? 0),
    });
    expect(result.status).toBe('completed');
    expect(result.mode).toBe('full');
    expect(result.types.Observation).toMatchObject({
      status: 'done',
      outcome: 'complete',
      mode: 'full',
      resources: 120,
      pages: 3,
      calls: 3,
      inserted: 120,
    });
    expect(result.outcome).toBe('succeeded');
    expect(result.totals).toMatchObject({ resources: 121, inserted: 121, pages: 4, calls: 4 });
    expect(await storedIds(u, 'Observation')).toHaveLength(120);
    // Next links came back on http://foreign.example and were followed on our base.
    expect(each.fake.requests.filter((p) => p.startsWith('?_page='))).toHaveLength(2);
    expect(each.fake.requests.find((p) => p.startsWith('Observation?'))).toContain('_count=50');
    expect(progress).toContain(50);
    expect(progress.at(-1)).toBe(120);
    const events = await u.store.events.list({ connectionId: u.connectionId, limit: 10 });
    expect(events.map((e) => e.type)).toEqual(['sync.completed']);
    const run = await u.store.sync.getRun(result.runId);
    expect(run).toMatchObject({ status: 'completed', progress: result.types });
  });

  it('stores each resource as the server wrote it, whitespace aside', async () => {
    each.fake.pretty = true;
    each.fake.put({
      resourceType: 'Observation',
      id: 'bp',
      valueQuantity: { value: 1.5, unit: 'mmol/L' },
      note: [{ text: 'line one\n  line two "quoted" {braces}' }],
    });
    const u = await setup(['patient/Observation.read']);
    await u.engine.run(u.connectionId);
    const row = await u.store.resources.get(u.connectionId, 'Observation', 'bp');
    const expected = JSON.stringify(each.fake.searchable.get('Observation')?.[0]);
    expect(row?.json).toBe(expected);
    expect(row?.versionId).toBe('1');
  });

  it('follows references once each, transitively, and keeps them apart from searches', async () => {
    observations(5, (i) => ({ performer: [{ reference: `Practitioner/pr-${i % 2}` }] }));
    for (const i of [0, 1]) {
      each.fake.readable.set(`Practitioner/pr-${i}`, {
        resourceType: 'Practitioner',
        id: `pr-${i}`,
        // An absolute reference on healow's own host is ours too, rebased.
        extension: [
          {
            url: 'x',
            valueReference: { reference: `http://foreign.example/fhir/r4/PRAC/Organization/org-1` },
          },
        ],
      });
    }
    each.fake.readable.set('Organization/org-1', { resourceType: 'Organization', id: 'org-1' });
    const u = await setup([
      'patient/Observation.read',
      'patient/Practitioner.read',
      'patient/Organization.read',
    ]);
    const result = await u.engine.run(u.connectionId);
    expect(await storedIds(u, 'Practitioner')).toEqual(['pr-0', 'pr-1']);
    expect(await storedIds(u, 'Organization')).toEqual(['org-1']);
    expect(each.fake.requests.filter((p) => p.startsWith('Practitioner/'))).toHaveLength(2);
    expect(result.totals.referencesRead).toBe(3);
    expect((await u.store.resources.get(u.connectionId, 'Practitioner', 'pr-0'))?.source).toBe(
      'read',
    );
  });

  it('writes reads by reference 25 to a transaction, each with its reference marked done', async () => {
    observations(30, (i) => ({ performer: [{ reference: `Practitioner/pr-${i}` }] }));
    for (let i = 0; i < 30; i++) {
      each.fake.readable.set(`Practitioner/pr-${i}`, {
        resourceType: 'Practitioner',
        id: `pr-${i}`,
      });
    }
    const u = await setup(['patient/Observation.read', 'patient/Practitioner.read']);
    const readWrites: number[] = [];
    const savePage = u.store.resources.savePage.bind(u.store.resources);
    u.store.resources.savePage = async (page) => {
      if (page.source === 'read') readWrites.push(page.resources.length);
      return savePage(page);
    };
    const result = await u.engine.run(u.connectionId);
    expect(readWrites).toEqual([25, 5]);
    expect(result.totals.referencesRead).toBe(30);
    const references = await u.store.sync.references(u.connectionId);
    expect(references.filter((r) => r.status === 'done')).toHaveLength(30);
  });

  it('does not read references the scopes do not grant', async () => {
    observations(2, () => ({ performer: [{ reference: 'Practitioner/pr-0' }] }));
    const u = await setup(['patient/Observation.read']);
    await u.engine.run(u.connectionId);
    expect(each.fake.requests.some((p) => p.startsWith('Practitioner/'))).toBe(false);
  });
});

describe('checkpoints', () => {
  it('a run that fails mid-search resumes at the page it stopped at, without duplicates', async () => {
    observations(100);
    const u = await setup(['patient/Observation.read'], {
      profiles: { generic: { maxPageSize: 20 } },
    });
    // The third page fails (the process could as well have died there).
    let pages = 0;
    each.fake.failures.push({
      match: (p) => pagesOf('Observation')(p) && ++pages === 3,
      status: 500,
      times: 1,
    });
    const error = await u.engine.run(u.connectionId, { runId: 'sync_a' }).catch((e: unknown) => e);
    expect(isBridgeError(error, 'upstream_error')).toBe(true);
    expect(await u.store.sync.getRun('sync_a')).toMatchObject({
      status: 'failed',
      reason: 'upstream_error',
    });
    const [checkpoint] = await u.store.sync.checkpoints(u.connectionId);
    expect(checkpoint).toMatchObject({ status: 'running', pagesDone: 2, resourcesDone: 40 });
    expect(checkpoint?.nextLink).toMatch(/^\?_page=/);
    expect(await storedIds(u, 'Observation')).toHaveLength(40);

    each.fake.requests.length = 0;
    const result = await u.engine.run(u.connectionId, { runId: 'sync_b' });
    expect(each.fake.requests[0]).toBe(checkpoint?.nextLink);
    expect(each.fake.requests).toHaveLength(3);
    expect(result.types.Observation).toMatchObject({
      status: 'done',
      outcome: 'complete',
      resources: 100,
      pages: 5,
    });
    expect(await storedIds(u, 'Observation')).toHaveLength(100);
    const events = await u.store.events.list({ connectionId: u.connectionId, limit: 10 });
    expect(events.map((e) => e.type)).toEqual(['sync.failed', 'sync.completed']);
  });

  it('a resumed page link the server forgot restarts the search from its first page', async () => {
    observations(60);
    const u = await setup(['patient/Observation.read'], {
      profiles: { generic: { maxPageSize: 20 } },
    });
    let pages = 0;
    each.fake.failures.push({
      match: (p) => pagesOf('Observation')(p) && ++pages === 2,
      status: 503,
      times: 1,
    });
    const error = await u.engine.run(u.connectionId).catch((e: unknown) => e);
    expect(isBridgeError(error, 'upstream_error')).toBe(true);
    const [stopped] = await u.store.sync.checkpoints(u.connectionId);
    expect(stopped).toMatchObject({ status: 'running', pagesDone: 1, resourcesDone: 20 });
    each.fake.failures.push({ match: (p) => p.startsWith('?_page='), status: 410, times: 1 });
    each.fake.requests.length = 0;
    const result = await u.engine.run(u.connectionId);
    expect(each.fake.requests[0]).toBe(stopped?.nextLink);
    expect(each.fake.requests[1]).toMatch(/^Observation\?/);
    // The search read again from its first page: three pages, the forgotten link not counted.
    expect(each.fake.requests).toHaveLength(4);
    expect(result.status).toBe('completed');
    expect(await storedIds(u, 'Observation')).toHaveLength(60);
  });

  it('a run taken over under the same id (a job retry) is the same run', async () => {
    observations(3);
    const u = await setup(['patient/Observation.read']);
    each.fake.failures.push({ match: pagesOf('Observation'), status: 502, times: 1 });
    const error = await u.engine.run(u.connectionId, { runId: 'sync_same' }).catch((e) => e);
    expect(isBridgeError(error, 'upstream_error')).toBe(true);
    expect((await u.store.sync.getRun('sync_same'))?.status).toBe('failed');
    await u.engine.run(u.connectionId, { runId: 'sync_same' });
    const runs = await u.store.sync.listRuns(u.connectionId, 10);
    expect(runs.map((r) => [r.id, r.status])).toEqual([['sync_same', 'completed']]);
  });

  it('marks runs of a process that died as interrupted', async () => {
    observations(1);
    const u = await setup(['patient/Observation.read']);
    // A run left running by a process that died.
    await u.store.sync.createRun(runStartedNow('sync_dead', u.connectionId, 'auto', Date.now()));
    await u.engine.run(u.connectionId);
    expect((await u.store.sync.getRun('sync_dead'))?.status).toBe('interrupted');
  });
});

describe('passes', () => {
  it('an incremental pass asks only for what changed since the high-water mark', async () => {
    observations(30);
    const u = await setup(['patient/Patient.read', 'patient/Observation.read']);
    await u.engine.run(u.connectionId);
    const changed = each.fake.put(
      { resourceType: 'Observation', id: 'obs-007', status: 'amended' },
      '2026-02-01T10:00:00.000-05:00',
    );
    each.fake.put(
      { resourceType: 'Observation', id: 'obs-new', status: 'final' },
      '2026-02-01T11:00:00.000-05:00',
    );
    each.fake.requests.length = 0;
    const result = await u.engine.run(u.connectionId);
    expect(result.mode).toBe('incremental');
    expect(each.fake.requests).toHaveLength(2);
    const observationSearch = each.fake.requests.find((p) => p.startsWith('Observation?')) ?? '';
    // The mark is the newest lastUpdated of the full pass (2025-01-01T00:00:31Z), bounded by the
    // server's clock at its start.
    expect(new URLSearchParams(observationSearch.split('?')[1]).get('_lastUpdated')).toBe(
      'gt2025-01-01T00:00:31.000Z',
    );
    expect(result.totals).toMatchObject({ resources: 2, inserted: 1, updated: 1 });
    expect((await u.store.resources.get(u.connectionId, 'Observation', 'obs-007'))?.json).toBe(
      JSON.stringify(changed),
    );
    // Nothing changed since: the next incremental pass receives nothing.
    const quiet = await u.engine.run(u.connectionId, { mode: 'incremental' });
    expect(quiet.totals.resources).toBe(0);
  });

  it('auto runs a full pass again once the last one is older than fullEveryMs', async () => {
    observations(2);
    const u = await setup(['patient/Observation.read'], { fullEveryMs: 0 });
    await u.engine.run(u.connectionId);
    expect((await u.engine.run(u.connectionId)).mode).toBe('full');
    expect((await u.engine.run(u.connectionId, { mode: 'incremental' })).mode).toBe('incremental');
  });

  it('a full pass marks what is gone upstream as deleted and keeps the row', async () => {
    observations(5);
    const u = await setup(['patient/Observation.read']);
    await u.engine.run(u.connectionId);
    each.fake.searchable.set(
      'Observation',
      (each.fake.searchable.get('Observation') ?? []).filter((r) => r.id !== 'obs-002'),
    );
    const result = await u.engine.run(u.connectionId, { mode: 'full' });
    expect(result.totals).toMatchObject({ deleted: 1, unchanged: 4, inserted: 0 });
    expect(await storedIds(u, 'Observation')).not.toContain('obs-002');
    const gone = await u.store.resources.get(u.connectionId, 'Observation', 'obs-002', {
      includeDeleted: true,
    });
    // Marked by this run's diff, not earlier and not later.
    expect(gone?.deletedAt).toBeGreaterThanOrEqual(result.startedAt);
    expect(gone?.deletedAt).toBeLessThanOrEqual(result.finishedAt);
  });

  it('a search the server refuses is skipped, and its type gets no diff', async () => {
    observations(3);
    each.fake.put({ resourceType: 'Device', id: 'dev-1' });
    const u = await setup(['patient/Observation.read', 'patient/Device.read']);
    await u.engine.run(u.connectionId);
    each.fake.failures.push({
      match: (p) => p.startsWith('Device?'),
      status: 400,
      times: Number.POSITIVE_INFINITY,
    });
    const result = await u.engine.run(u.connectionId, { mode: 'full' });
    expect(result.status).toBe('completed');
    expect(result.types.Device?.status).toBe('skipped');
    expect(result.skipped).toEqual([
      { what: 'Device', reason: expect.stringContaining('injected 400') },
    ]);
    expect(result.totals.deleted).toBe(0);
    expect(await storedIds(u, 'Device')).toEqual(['dev-1']);
  });
});

describe('attachments', () => {
  const doc = (attachment: Json) => ({
    resourceType: 'DocumentReference',
    id: `doc-${String(attachment.title)}`,
    content: [{ attachment }],
  });

  it('reads Binary attachments on the practice base and skips the rest with a reason', async () => {
    const binary = (id: string, contentType: string, bytes: number) =>
      each.fake.readable.set(`Binary/${id}`, {
        resourceType: 'Binary',
        id,
        contentType,
        data: Buffer.alloc(bytes, 'a').toString('base64'),
      });
    binary('b-rel', 'text/plain', 10);
    binary('b-abs', 'application/pdf', 10);
    binary('b-big', 'text/plain', 5000);
    each.fake.put(doc({ title: 'rel', contentType: 'text/plain', url: 'Binary/b-rel' }));
    each.fake.put(
      doc({
        title: 'abs',
        contentType: 'application/pdf',
        url: 'http://foreign.example/fhir/r4/PRAC/Binary/b-abs',
      }),
    );
    each.fake.put(
      doc({ title: 'cdn', contentType: 'application/pdf', url: 'https://cdn.example/notes/1.pdf' }),
    );
    each.fake.put(doc({ title: 'zip', contentType: 'application/zip', url: 'Binary/b-zip' }));
    each.fake.put(
      doc({
        title: 'declared',
        contentType: 'text/plain',
        size: 999_999,
        url: 'Binary/b-declared',
      }),
    );
    each.fake.put(doc({ title: 'big', contentType: 'text/plain', url: 'Binary/b-big' }));
    each.fake.put(doc({ title: 'gone', contentType: 'text/plain', url: 'Binary/b-gone' }));
    // The document itself instead of a Binary resource, and a Binary that is not JSON.
    each.fake.put(doc({ title: 'pdf', contentType: 'application/pdf', url: 'Binary/b-pdf' }));
    each.fake.raw.set('Binary/b-pdf', { contentType: 'application/pdf', body: '%PDF-1.4' });
    each.fake.put(doc({ title: 'broken', contentType: 'text/plain', url: 'Binary/b-broken' }));
    each.fake.raw.set('Binary/b-broken', {
      contentType: 'application/fhir+json',
      body: '{"resourceType":',
    });
    const u = await setup(['patient/DocumentReference.read', 'patient/Binary.read'], {
      attachments: { maxBytes: 1000 },
    });
    const result = await u.engine.run(u.connectionId);
    expect(await storedIds(u, 'Binary')).toEqual(['b-abs', 'b-rel']);
    const reasons = Object.fromEntries(result.skipped.map((s) => [s.what, s.reason]));
    expect(reasons).toEqual({
      'DocumentReference/doc-cdn attachment': expect.stringContaining(
        'not a Binary on the practice base',
      ),
      'Binary/b-zip': 'content type application/zip is not allowed',
      'Binary/b-declared': expect.stringContaining('over the cap'),
      'Binary/b-big': expect.stringContaining('over the cap'),
      'Binary/b-gone': expect.stringContaining('not found'),
      'Binary/b-pdf': expect.stringContaining('expected FHIR JSON'),
      'Binary/b-broken': expect.stringContaining('not JSON'),
    });
    // Declared refusals cost no call; the CDN URL was never fetched.
    expect(each.fake.requests.filter((p) => p.startsWith('Binary/'))).toEqual(
      expect.arrayContaining(['Binary/b-abs', 'Binary/b-big', 'Binary/b-gone', 'Binary/b-rel']),
    );
    expect(each.fake.requests.some((p) => p.includes('b-zip') || p.includes('b-declared'))).toBe(
      false,
    );
    expect(result.totals).toMatchObject({ referencesRead: 2, referencesSkipped: 6 });
  });

  it('does not fetch attachments without Binary read', async () => {
    each.fake.put(doc({ title: 'rel', contentType: 'text/plain', url: 'Binary/b-rel' }));
    const u = await setup(['patient/DocumentReference.read']);
    await u.engine.run(u.connectionId);
    expect(each.fake.requests.some((p) => p.startsWith('Binary/'))).toBe(false);
  });
});

describe('stopping', () => {
  it('an aborted run is cancelled: it rejects, keeps its pages, emits no sync.failed', async () => {
    observations(100);
    const u = await setup(['patient/Observation.read'], {
      profiles: { generic: { maxPageSize: 10 } },
    });
    const controller = new AbortController();
    const error = await u.engine
      .run(u.connectionId, {
        runId: 'sync_stop',
        signal: controller.signal,
        onProgress: (p) => {
          if ((p.types.Observation?.pages ?? 0) >= 2) controller.abort(new Error('shutting down'));
        },
      })
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('shutting down');
    expect(await u.store.sync.getRun('sync_stop')).toMatchObject({
      status: 'cancelled',
      reason: 'cancelled',
    });
    const kept = (await storedIds(u, 'Observation')).length;
    expect(kept).toBeGreaterThanOrEqual(20);
    expect(kept).toBeLessThan(100);
    const events = await u.store.events.list({ connectionId: u.connectionId, limit: 10 });
    expect(events).toEqual([]);
    // The next run goes on from the checkpoint.
    const result = await u.engine.run(u.connectionId);
    expect(result.types.Observation?.resources).toBe(100);
  });

  it('an unknown connection is not_found before any run is recorded', async () => {
    const u = await setup();
    const error = await u.engine.run('con_missing').catch((e: unknown) => e);
    expect(isBridgeError(error, 'not_found')).toBe(true);
  });
});
