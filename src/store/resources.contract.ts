// The synced-record part of the store contract (called from storeContract in contract.ts): every
// adapter's ResourceRepository and SyncStateRepository must pass it.
import { beforeEach, describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import type {
  ConnectionRecord,
  PageWrite,
  ResourceWrite,
  Store,
  StoredResource,
  SyncCheckpoint,
  SyncRunRecord,
} from './port.ts';

const T0 = Date.UTC(2026, 0, 1);
const BASE = 'https://fhir4.healow.com/fhir/r4/JAFJCD';

function owner(id: string): ConnectionRecord {
  return {
    id,
    registration: 'sandbox',
    practiceBase: BASE,
    userRef: `user-${id}`,
    state: 'active',
    stateReason: null,
    patientId: 'pat-1',
    fhirUser: null,
    grantedScopes: ['patient/*.read'],
    sealedTokens: null,
    accessExpiresAt: null,
    refreshExpiresAt: null,
    tokenVersion: 0,
    refreshLeaseUntil: null,
    createdAt: T0,
    updatedAt: T0,
    connectedAt: T0,
  };
}

export function resourceWrite(overrides: Partial<ResourceWrite> = {}): ResourceWrite {
  const type = overrides.type ?? 'Observation';
  const id = overrides.id ?? 'obs-1';
  const versionId = overrides.versionId === undefined ? '1' : overrides.versionId;
  return {
    type,
    id,
    versionId,
    lastUpdated: '2025-09-30T10:00:00.000-04:00',
    lastUpdatedMs: Date.parse('2025-09-30T10:00:00.000-04:00'),
    dateStart: null,
    dateEnd: null,
    // Key order, a decimal's precision and an escape kept as sent: the store never re-serializes.
    json: `{"resourceType":"${type}","id":"${id}","meta":{"versionId":"${versionId}"},"valueQuantity":{"value":98.60},"note":"caf\\u00e9"}`,
    ...overrides,
  };
}

function page(resources: ResourceWrite[], overrides: Partial<PageWrite> = {}): PageWrite {
  return {
    connectionId: 'con_r1',
    practiceBase: BASE,
    fetchedAt: T0 + 5,
    source: 'Observation?category=laboratory',
    sweep: null,
    resources,
    ...overrides,
  };
}

export function checkpoint(overrides: Partial<SyncCheckpoint> = {}): SyncCheckpoint {
  return {
    connectionId: 'con_r1',
    searchKey: 'Observation?category=laboratory',
    type: 'Observation',
    status: 'running',
    mode: 'full',
    nextLink: '?_getpages=abc&_getpagesoffset=200',
    pagesDone: 1,
    resourcesDone: 200,
    sweep: 'sw_1',
    passBound: T0,
    seenMax: T0 - 10,
    highWater: null,
    lastFullAt: null,
    reason: null,
    updatedAt: T0,
    ...overrides,
  };
}

export function syncRun(overrides: Partial<SyncRunRecord> = {}): SyncRunRecord {
  return {
    id: 'sync_1',
    connectionId: 'con_r1',
    mode: 'auto',
    status: 'running',
    startedAt: T0,
    finishedAt: null,
    progress: { Observation: { status: 'running', resources: 3, pages: 1 } },
    result: null,
    reason: null,
    error: null,
    updatedAt: T0,
    ...overrides,
  };
}

const ids = (rows: StoredResource[]) => rows.map((r) => r.id);

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export function resourceContract(store: () => Store): void {
  describe('resources', () => {
    beforeEach(async () => {
      await store().connections.insert(owner('con_r1'));
      await store().connections.insert(owner('con_r2'));
    });

    it('stores the JSON text exactly as given, with its provenance', async () => {
      const write = resourceWrite({ dateStart: 10, dateEnd: 20 });
      const result = await store().resources.savePage(page([write]));
      expect(result).toEqual({ inserted: 1, updated: 0, unchanged: 0 });
      expect(await store().resources.get('con_r1', 'Observation', 'obs-1')).toEqual({
        ...write,
        connectionId: 'con_r1',
        practiceBase: BASE,
        fetchedAt: T0 + 5,
        source: 'Observation?category=laboratory',
        deletedAt: null,
      });
    });

    it('never duplicates: an unchanged version is a no-op, a new one replaces the row', async () => {
      await store().resources.savePage(page([resourceWrite()]));
      const same = await store().resources.savePage(
        page([resourceWrite({ json: '{"changed":"but same version"}' })], { fetchedAt: T0 + 9 }),
      );
      expect(same).toEqual({ inserted: 0, updated: 0, unchanged: 1 });
      const kept = await store().resources.get('con_r1', 'Observation', 'obs-1');
      expect(kept?.fetchedAt).toBe(T0 + 5);
      expect(kept?.json).toContain('98.60');

      const v2 = resourceWrite({ versionId: '2', json: '{"v":2}' });
      const changed = await store().resources.savePage(page([v2], { fetchedAt: T0 + 10 }));
      expect(changed).toEqual({ inserted: 0, updated: 1, unchanged: 0 });
      const rows = await store().resources.list({
        connectionId: 'con_r1',
        type: 'Observation',
        limit: 10,
      });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ versionId: '2', json: '{"v":2}', fetchedAt: T0 + 10 });
    });

    it('without meta, the text decides whether a resource changed', async () => {
      const bare = { versionId: null, lastUpdated: null, lastUpdatedMs: null };
      await store().resources.savePage(page([resourceWrite({ ...bare, json: '{"a":1}' })]));
      const again = await store().resources.savePage(
        page([resourceWrite({ ...bare, json: '{"a":1}' })]),
      );
      expect(again.unchanged).toBe(1);
      const other = await store().resources.savePage(
        page([resourceWrite({ ...bare, json: '{"a":2}' })]),
      );
      expect(other.updated).toBe(1);
    });

    it('keys by connection, type and id', async () => {
      await store().resources.savePage(
        page([resourceWrite(), resourceWrite({ type: 'Condition' })]),
      );
      await store().resources.savePage(page([resourceWrite()], { connectionId: 'con_r2' }));
      expect(await store().resources.countByType('con_r1')).toEqual({
        Condition: 1,
        Observation: 1,
      });
      expect(await store().resources.countByType('con_r2')).toEqual({ Observation: 1 });
      expect(await store().resources.get('con_r1', 'Condition', 'missing')).toBeUndefined();
    });

    it('a page for an unknown connection is not_found and writes nothing', async () => {
      const error = await store()
        .resources.savePage(page([resourceWrite()], { connectionId: 'con_none' }))
        .catch((e: unknown) => e);
      expect(isBridgeError(error, 'not_found')).toBe(true);
    });

    it('saves the checkpoint, the references and the run progress with the page', async () => {
      await store().sync.createRun(syncRun());
      const progress = { Observation: { status: 'running' as const, resources: 1, pages: 2 } };
      await store().resources.savePage(
        page([resourceWrite()], {
          checkpoint: checkpoint({ pagesDone: 2 }),
          references: [
            { type: 'Practitioner', id: 'pr-1' },
            { type: 'Binary', id: 'b-1', contentType: 'application/pdf', declaredSize: 1234 },
            { type: 'Practitioner', id: 'pr-1' },
          ],
          run: { id: 'sync_1', progress, updatedAt: T0 + 7 },
        }),
      );
      expect(await store().sync.checkpoints('con_r1')).toEqual([checkpoint({ pagesDone: 2 })]);
      const refs = await store().sync.references('con_r1');
      expect(refs.map((r) => `${r.type}/${r.id}:${r.status}`)).toEqual([
        'Binary/b-1:pending',
        'Practitioner/pr-1:pending',
      ]);
      expect(refs[0]).toMatchObject({ contentType: 'application/pdf', declaredSize: 1234 });
      expect(await store().sync.getRun('sync_1')).toMatchObject({ progress, updatedAt: T0 + 7 });
    });

    it('a page that fails writes neither resources nor checkpoint', async () => {
      const error = await store()
        .resources.savePage(
          page([resourceWrite()], {
            checkpoint: checkpoint({ connectionId: 'con_none' }),
          }),
        )
        .catch((e: unknown) => e);
      expect(isBridgeError(error)).toBe(true);
      expect(await store().resources.countByType('con_r1')).toEqual({});
      expect(await store().sync.checkpoints('con_r1')).toEqual([]);
    });

    it('a full pass marks what it did not see as deleted, keeps the row, and revives it', async () => {
      await store().resources.savePage(
        page([resourceWrite({ id: 'a' }), resourceWrite({ id: 'b' })], { sweep: 'sw_1' }),
      );
      await store().resources.savePage(
        page([resourceWrite({ type: 'Practitioner', id: 'p' })], { source: 'read' }),
      );
      // The next pass sees only `a` (unchanged: the stamp still moves).
      await store().resources.savePage(page([resourceWrite({ id: 'a' })], { sweep: 'sw_2' }));
      expect(await store().resources.markUnseen('con_r1', 'Observation', 'sw_2', T0 + 50)).toBe(1);
      // Reads by reference are never swept.
      expect(await store().resources.markUnseen('con_r1', 'Practitioner', 'sw_2', T0 + 50)).toBe(0);
      expect(await store().resources.get('con_r1', 'Observation', 'b')).toBeUndefined();
      expect(
        await store().resources.get('con_r1', 'Observation', 'b', { includeDeleted: true }),
      ).toMatchObject({ deletedAt: T0 + 50 });
      expect(await store().resources.countByType('con_r1')).toEqual({
        Observation: 1,
        Practitioner: 1,
      });
      // Seen again (same version): live again.
      const back = await store().resources.savePage(
        page([resourceWrite({ id: 'b' })], { sweep: 'sw_3' }),
      );
      expect(back.updated).toBe(1);
      expect(await store().resources.get('con_r1', 'Observation', 'b')).toMatchObject({
        deletedAt: null,
      });
    });

    it('lists by id with a keyset cursor and filters on _lastUpdated, date and code', async () => {
      const at = (iso: string) => Date.parse(iso);
      const obs = (id: string, lastUpdated: string, date: string, codes: string) =>
        resourceWrite({
          id,
          lastUpdated,
          lastUpdatedMs: at(lastUpdated),
          dateStart: at(date),
          dateEnd: at(date) + 1000,
          json: `{"resourceType":"Observation","id":"${id}","code":{"coding":[${codes}]}}`,
        });
      const loinc = (code: string) => `{"system":"http://loinc.org","code":"${code}"}`;
      await store().resources.savePage(
        page([
          obs('o3', '2025-03-01T00:00:00Z', '2024-03-01T00:00:00Z', loinc('8867-4')),
          obs('o1', '2025-01-01T00:00:00Z', '2024-01-01T00:00:00Z', loinc('8480-6')),
          obs('o2', '2025-02-01T00:00:00Z', '2024-02-01T00:00:00Z', `${loinc('85354-9')}`),
          obs('o4', '2025-04-01T00:00:00Z', '2024-04-01T00:00:00Z', '{"code":"local-1"}'),
        ]),
      );
      const list = (q: Partial<Parameters<Store['resources']['list']>[0]>) =>
        store()
          .resources.list({ connectionId: 'con_r1', type: 'Observation', limit: 10, ...q })
          .then(ids);
      expect(await list({})).toEqual(['o1', 'o2', 'o3', 'o4']);
      expect(await list({ limit: 2 })).toEqual(['o1', 'o2']);
      expect(await list({ limit: 2, afterId: 'o2' })).toEqual(['o3', 'o4']);
      const feb = { start: at('2025-02-01T00:00:00Z'), end: at('2025-02-02T00:00:00Z') };
      expect(await list({ lastUpdated: [{ prefix: 'gt', ...feb }] })).toEqual(['o3', 'o4']);
      expect(await list({ lastUpdated: [{ prefix: 'ge', ...feb }] })).toEqual(['o2', 'o3', 'o4']);
      expect(await list({ lastUpdated: [{ prefix: 'lt', ...feb }] })).toEqual(['o1']);
      expect(await list({ lastUpdated: [{ prefix: 'le', ...feb }] })).toEqual(['o1', 'o2']);
      expect(await list({ lastUpdated: [{ prefix: 'eq', ...feb }] })).toEqual(['o2']);
      const y2024q1 = { start: at('2024-01-01T00:00:00Z'), end: at('2024-03-01T00:00:00Z') };
      expect(await list({ date: [{ prefix: 'eq', ...y2024q1 }] })).toEqual(['o1', 'o2']);
      expect(
        await list({
          date: [
            { prefix: 'ge', ...y2024q1 },
            { prefix: 'lt', start: at('2024-04-01T00:00:00Z'), end: 0 },
          ],
        }),
      ).toEqual(['o1', 'o2', 'o3']);
      expect(await list({ code: [[{ system: 'http://loinc.org', code: '8867-4' }]] })).toEqual([
        'o3',
      ]);
      expect(await list({ code: [[{ code: '8480-6' }, { code: 'local-1' }]] })).toEqual([
        'o1',
        'o4',
      ]);
      expect(await list({ code: [[{ system: '', code: 'local-1' }]] })).toEqual(['o4']);
      expect(await list({ code: [[{ system: 'http://loinc.org' }]] })).toEqual(['o1', 'o2', 'o3']);
      expect(await list({ code: [[{ code: '8480-6' }], [{ code: '8867-4' }]] })).toEqual([]);
    });

    it('iterates every live resource by type then id, and one type alone', async () => {
      await store().resources.savePage(
        page([
          resourceWrite({ type: 'Patient', id: 'p' }),
          resourceWrite({ id: 'b' }),
          resourceWrite({ id: 'a' }),
          resourceWrite({ type: 'Condition', id: 'c' }),
        ]),
      );
      await store().resources.savePage(page([resourceWrite({ id: 'z' })], { sweep: 'sw_x' }));
      await store().resources.markUnseen('con_r1', 'Condition', 'sw_x', T0);
      const all = await collect(store().resources.iterate('con_r1'));
      expect(all.map((r) => `${r.type}/${r.id}`)).toEqual([
        'Observation/a',
        'Observation/b',
        'Observation/z',
        'Patient/p',
      ]);
      expect(
        ids(await collect(store().resources.iterate('con_r1', { type: 'Observation' }))),
      ).toEqual(['a', 'b', 'z']);
      expect(await collect(store().resources.iterate('con_r2'))).toEqual([]);
    });

    it('writes go on while an iteration is open', async () => {
      await store().resources.savePage(
        page([resourceWrite({ id: 'a' }), resourceWrite({ id: 'b' })]),
      );
      const seen: string[] = [];
      for await (const r of store().resources.iterate('con_r1')) {
        seen.push(r.id);
        await store().resources.savePage(page([resourceWrite({ id: `new-${r.id}` })]));
      }
      expect(seen.slice(0, 2)).toEqual(['a', 'b']);
      expect((await store().resources.countByType('con_r1')).Observation).toBeGreaterThanOrEqual(4);
    });

    it('a deleted connection takes its resources and sync state with it', async () => {
      await store().sync.createRun(syncRun());
      await store().resources.savePage(page([resourceWrite()], { checkpoint: checkpoint() }));
      await store().connections.delete('con_r1');
      expect(await store().resources.countByType('con_r1')).toEqual({});
      expect(await store().sync.checkpoints('con_r1')).toEqual([]);
      expect(await store().sync.getRun('sync_1')).toBeUndefined();
    });

    it("forgets a connection's record (resources, checkpoints, references), keeping its runs", async () => {
      await store().sync.createRun(syncRun());
      await store().resources.savePage(
        page([resourceWrite({ id: 'a' }), resourceWrite({ id: 'b' })], {
          checkpoint: checkpoint(),
        }),
      );
      expect(await store().resources.forgetRecord('con_r1')).toBe(2);
      expect(await store().resources.countByType('con_r1')).toEqual({});
      expect(await store().sync.checkpoints('con_r1')).toEqual([]);
      expect(await store().sync.references('con_r1')).toEqual([]);
      expect(await store().sync.getRun('sync_1')).toBeDefined();
      expect(await store().resources.forgetRecord('con_r1')).toBe(0);
    });
  });

  describe('sync state', () => {
    beforeEach(async () => {
      await store().connections.insert(owner('con_r1'));
    });

    it('puts checkpoints (insert or replace) and lists them by search key', async () => {
      const a = checkpoint({ searchKey: 'Patient?_id=p', type: 'Patient', status: 'done' });
      const b = checkpoint();
      await store().sync.putCheckpoints([b, a]);
      expect(await store().sync.checkpoints('con_r1')).toEqual([b, a]);
      const done = checkpoint({
        status: 'done',
        nextLink: null,
        highWater: T0 - 1,
        lastFullAt: T0,
      });
      await store().sync.putCheckpoints([done]);
      expect(await store().sync.checkpoints('con_r1')).toEqual([done, a]);
    });

    it('resolves references and resets done ones of some types', async () => {
      await store().resources.savePage(
        page([], {
          references: [
            { type: 'Practitioner', id: 'p1' },
            { type: 'Organization', id: 'o1' },
            { type: 'Binary', id: 'b1' },
          ],
        }),
      );
      expect((await store().sync.pendingReferences('con_r1', 2)).map((r) => r.id)).toEqual([
        'b1',
        'o1',
      ]);
      for (const [type, id] of [
        ['Practitioner', 'p1'],
        ['Binary', 'b1'],
      ] as const) {
        await store().sync.resolveReference('con_r1', type, id, { status: 'done', at: T0 + 1 });
      }
      await store().sync.resolveReference('con_r1', 'Organization', 'o1', {
        status: 'skipped',
        reason: 'not found',
        at: T0 + 1,
      });
      expect(await store().sync.pendingReferences('con_r1', 10)).toEqual([]);
      // A known reference noted again stays as it is.
      await store().resources.savePage(page([], { references: [{ type: 'Binary', id: 'b1' }] }));
      expect(
        await store().sync.resetReferences('con_r1', ['Practitioner', 'Organization'], T0 + 2),
      ).toBe(1);
      expect((await store().sync.pendingReferences('con_r1', 10)).map((r) => r.id)).toEqual(['p1']);
      const skipped = (await store().sync.references('con_r1')).find((r) => r.id === 'o1');
      expect(skipped).toMatchObject({ status: 'skipped', reason: 'not found' });
    });

    it('a page marks the references it answers done, in its own transaction', async () => {
      await store().resources.savePage(
        page([], {
          references: [
            { type: 'Practitioner', id: 'p1' },
            { type: 'Practitioner', id: 'p2' },
          ],
        }),
      );
      await store().resources.savePage(
        page([resourceWrite({ type: 'Practitioner', id: 'p1' })], {
          fetchedAt: T0 + 9,
          resolved: [{ type: 'Practitioner', id: 'p1' }],
        }),
      );
      expect((await store().sync.pendingReferences('con_r1', 10)).map((r) => r.id)).toEqual(['p2']);
      const done = (await store().sync.references('con_r1')).find((r) => r.id === 'p1');
      expect(done).toMatchObject({ status: 'done', reason: null, updatedAt: T0 + 9 });
      // A page that fails resolves nothing.
      const error = await store()
        .resources.savePage(
          page([], {
            resolved: [{ type: 'Practitioner', id: 'p2' }],
            checkpoint: checkpoint({ connectionId: 'con_none' }),
          }),
        )
        .catch((e: unknown) => e);
      expect(isBridgeError(error)).toBe(true);
      expect((await store().sync.pendingReferences('con_r1', 10)).map((r) => r.id)).toEqual(['p2']);
    });

    it('creates, updates, reads and lists runs; a duplicate id is a conflict', async () => {
      await store().sync.createRun(syncRun());
      await store().sync.createRun(syncRun({ id: 'sync_2', startedAt: T0 + 10 }));
      const error = await store()
        .sync.createRun(syncRun())
        .catch((e: unknown) => e);
      expect(isBridgeError(error, 'conflict')).toBe(true);
      const failed = {
        status: 'failed',
        finishedAt: T0 + 3,
        reason: 'revoked',
        error: 'connection con_r1 is revoked',
        result: { inserted: 3 },
        updatedAt: T0 + 3,
      } satisfies Partial<SyncRunRecord>;
      await store().sync.updateRun('sync_1', failed);
      expect(await store().sync.getRun('sync_1')).toEqual(syncRun(failed));
      expect((await store().sync.listRuns('con_r1', 10)).map((r) => r.id)).toEqual([
        'sync_2',
        'sync_1',
      ]);
      expect(await store().sync.getRun('sync_missing')).toBeUndefined();
    });

    it('interrupts the other running runs of a connection', async () => {
      await store().sync.createRun(syncRun({ id: 'old' }));
      await store().sync.createRun(syncRun({ id: 'done', status: 'completed' }));
      await store().sync.createRun(syncRun({ id: 'new' }));
      expect(await store().sync.interruptRuns('con_r1', 'new', T0 + 9)).toBe(1);
      expect(await store().sync.getRun('old')).toMatchObject({
        status: 'interrupted',
        finishedAt: T0 + 9,
      });
      expect((await store().sync.getRun('new'))?.status).toBe('running');
      expect((await store().sync.getRun('done'))?.status).toBe('completed');
    });
  });
}
