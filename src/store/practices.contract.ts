// The practices part of the store contract (called from storeContract in contract.ts): every
// adapter's PracticeRepository must pass it.
import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import type { PracticeListing, PracticeRecord, Store } from './port.ts';

const T0 = Date.UTC(2026, 0, 1);

export function practiceListing(overrides: Partial<PracticeListing> = {}): PracticeListing {
  const id = overrides.id ?? 'JAFJCD';
  return {
    id,
    name: 'FHIR R4 Prodtest EMR',
    base: `https://fhir4.healow.com/fhir/r4/${id}`,
    vendor: 'healow',
    registration: null,
    organizationName: 'FHIR R4 Prodtest EMR',
    addressLine: '2 Technology Dr',
    city: 'Westborough',
    state: 'MA',
    postalCode: '01581',
    ...overrides,
  };
}

export function practice(overrides: Partial<PracticeRecord> = {}): PracticeRecord {
  return {
    ...practiceListing(overrides),
    source: 'directory',
    status: 'active',
    statusReason: null,
    health: { lastCheckedAt: null, discoveryOk: null, lastError: null },
    importedAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

export function practiceContract(store: () => Store): void {
  describe('practices', () => {
    const repo = () => store().practices;
    const ids = (records: PracticeRecord[]) => records.map((p) => p.id);

    it('round-trips every field, nullable ones null and set', async () => {
      const full = practice({
        registration: 'production',
        statusReason: 'checked by hand',
        health: { lastCheckedAt: T0 + 5, discoveryOk: false, lastError: 'HTTP 503' },
        importedAt: T0 + 1,
        updatedAt: T0 + 2,
      });
      const bare = practice({
        id: 'op-1',
        name: 'Generic EHR',
        base: 'https://ehr.example/fhir',
        vendor: 'generic',
        source: 'operator',
        organizationName: null,
        addressLine: null,
        city: null,
        state: null,
        postalCode: null,
        health: { lastCheckedAt: T0, discoveryOk: true, lastError: null },
      });
      await repo().insert(full);
      await repo().insert(bare);
      expect(await repo().get('JAFJCD')).toEqual(full);
      expect(await repo().get('op-1')).toEqual(bare);
      expect(await repo().get('missing')).toBeUndefined();
    });

    it('a duplicate id is a conflict', async () => {
      await repo().insert(practice());
      const error = await repo()
        .insert(practice({ name: 'other' }))
        .catch((e: unknown) => e);
      expect(isBridgeError(error, 'conflict')).toBe(true);
      expect((await repo().get('JAFJCD'))?.name).toBe('FHIR R4 Prodtest EMR');
    });

    it('byBase matches exactly and prefers a live record, then config, operator, directory', async () => {
      const base = 'https://ehr.example/fhir/r4/A';
      await repo().insert(practice({ id: 'dir', base, source: 'directory', status: 'vanished' }));
      await repo().insert(practice({ id: 'op', base, source: 'operator', status: 'disabled' }));
      expect((await repo().byBase(base))?.id).toBe('op');
      await repo().insert(practice({ id: 'dir2', base, source: 'directory' }));
      expect((await repo().byBase(base))?.id).toBe('dir2');
      await repo().insert(practice({ id: 'cfg', base, source: 'config' }));
      expect((await repo().byBase(base))?.id).toBe('cfg');
      expect(await repo().byBase(`${base}/`)).toBeUndefined();
      expect(await repo().byBase('https://ehr.example/fhir/r4/a')).toBeUndefined();
    });

    it('lists by name (case-insensitive) then id, filters by status and source, pages', async () => {
      await repo().insert(practice({ id: 'c', name: 'beta', base: 'https://x/c' }));
      await repo().insert(practice({ id: 'b', name: 'Alpha', base: 'https://x/b' }));
      await repo().insert(practice({ id: 'a', name: 'alpha', base: 'https://x/a' }));
      await repo().insert(
        practice({ id: 'd', name: 'Delta', base: 'https://x/d', status: 'vanished' }),
      );
      await repo().insert(
        practice({ id: 'e', name: 'Echo', base: 'https://x/e', source: 'operator' }),
      );
      expect(ids(await repo().list({ limit: 10 }))).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(ids(await repo().list({ limit: 2, offset: 1 }))).toEqual(['b', 'c']);
      expect(ids(await repo().list({ limit: 10, status: ['vanished'] }))).toEqual(['d']);
      expect(ids(await repo().list({ limit: 10, status: ['active', 'disabled'] }))).toEqual([
        'a',
        'b',
        'c',
        'e',
      ]);
      expect(ids(await repo().list({ limit: 10, source: 'operator' }))).toEqual(['e']);
      expect(await repo().count()).toBe(5);
      expect(await repo().count({ status: ['active'] })).toBe(4);
      expect(await repo().count({ status: ['active'], source: 'directory' })).toBe(3);
      expect(await repo().count({ status: [] })).toBe(0);
    });

    it('update applies only the given fields; null clears; unknown id is false', async () => {
      await repo().insert(practice());
      const health = { lastCheckedAt: T0 + 9, discoveryOk: false, lastError: 'unreachable' };
      expect(
        await repo().update('JAFJCD', {
          status: 'disabled',
          statusReason: 'patient API off',
          health,
          city: null,
          updatedAt: T0 + 9,
        }),
      ).toBe(true);
      expect(await repo().get('JAFJCD')).toEqual(
        practice({
          status: 'disabled',
          statusReason: 'patient API off',
          health,
          city: null,
          updatedAt: T0 + 9,
        }),
      );
      expect(await repo().update('nope', { status: 'active' })).toBe(false);
    });

    it('changeMark changes with every added or updated record, not with health', async () => {
      const marks = [await repo().changeMark()];
      const next = async () => {
        marks.push(await repo().changeMark());
        return marks.at(-1) !== marks.at(-2);
      };
      await repo().insert(practice());
      expect(await next()).toBe(true);
      await repo().update('JAFJCD', { status: 'disabled', updatedAt: T0 + 1 });
      expect(await next()).toBe(true);
      await repo().update('JAFJCD', {
        health: { lastCheckedAt: T0 + 2, discoveryOk: true, lastError: null },
      });
      expect(await next()).toBe(false);
      await repo().replaceSource('directory', [practiceListing({ id: 'B' })], T0 + 3);
      expect(await next()).toBe(true);
      await repo().replaceSource('directory', [practiceListing({ id: 'B' })], T0 + 4);
      expect(await next()).toBe(false);
      await repo().replaceSource('directory', [], T0 + 5);
      expect(await next()).toBe(true);
    });

    describe('replaceSource', () => {
      const A = practiceListing({ id: 'A', name: 'Alpha Clinic' });
      const B = practiceListing({ id: 'B', name: 'Beta Clinic' });
      const C = practiceListing({ id: 'C', name: 'Gamma Clinic' });

      it('adds, then is idempotent, then updates and marks the missing vanished', async () => {
        expect(await repo().replaceSource('directory', [A, B], T0)).toEqual({
          added: 2,
          updated: 0,
          unchanged: 0,
          vanished: 0,
          skipped: [],
        });
        expect(await repo().get('A')).toEqual(practice({ ...A, importedAt: T0, updatedAt: T0 }));
        expect(await repo().replaceSource('directory', [A, B], T0 + 1)).toEqual({
          added: 0,
          updated: 0,
          unchanged: 2,
          vanished: 0,
          skipped: [],
        });
        expect((await repo().get('A'))?.updatedAt).toBe(T0);

        const renamed = { ...B, name: 'Beta Family Clinic', city: null };
        expect(await repo().replaceSource('directory', [renamed, C], T0 + 2)).toEqual({
          added: 1,
          updated: 1,
          unchanged: 0,
          vanished: 1,
          skipped: [],
        });
        const a = await repo().get('A');
        expect(a?.status).toBe('vanished');
        expect(a?.statusReason).toMatch(/directory/);
        expect(a?.updatedAt).toBe(T0 + 2);
        expect(await repo().get('B')).toEqual(
          practice({ ...renamed, importedAt: T0, updatedAt: T0 + 2 }),
        );
        // A vanished practice is kept, and a later listing brings it back.
        expect(await repo().replaceSource('directory', [A, renamed, C], T0 + 3)).toMatchObject({
          added: 0,
          updated: 1,
          unchanged: 2,
          vanished: 0,
        });
        expect(await repo().get('A')).toMatchObject({ status: 'active', statusReason: null });
      });

      it('keeps health and a disabled status; a disabled practice does not vanish', async () => {
        await repo().replaceSource('directory', [A, B], T0);
        const health = { lastCheckedAt: T0, discoveryOk: true, lastError: null };
        await repo().update('A', { health, status: 'disabled', statusReason: 'off' });
        await repo().replaceSource('directory', [{ ...A, name: 'Alpha 2' }], T0 + 1);
        expect(await repo().get('A')).toMatchObject({
          name: 'Alpha 2',
          status: 'disabled',
          statusReason: 'off',
          health,
        });
        expect(await repo().replaceSource('directory', [], T0 + 2)).toMatchObject({
          vanished: 0,
        });
        expect((await repo().get('A'))?.status).toBe('disabled');
        expect((await repo().get('B'))?.status).toBe('vanished');
      });

      it('never touches operator practices and skips listings that collide with them', async () => {
        const op = practice({ id: 'A', source: 'operator', name: 'Mine', base: 'https://op/A' });
        const op2 = practice({ id: 'op2', source: 'operator', name: 'Mine 2', base: B.base });
        await repo().insert(op);
        await repo().insert(op2);
        const result = await repo().replaceSource('directory', [A, B, C], T0 + 1);
        expect(result).toMatchObject({ added: 1, updated: 0, unchanged: 0, vanished: 0 });
        expect(result.skipped).toEqual([
          { id: 'A', reason: 'id belongs to an operator practice' },
          { id: 'B', reason: 'base is used by practice op2' },
        ]);
        await repo().replaceSource('directory', [], T0 + 2);
        expect(await repo().get('A')).toEqual(op);
        expect(await repo().get('op2')).toEqual(op2);
        expect((await repo().get('C'))?.status).toBe('vanished');
      });

      it('config takes over directory ids, and a vanished record is taken back', async () => {
        await repo().replaceSource('directory', [A, B], T0);
        const configured = { ...A, registration: 'sandbox', name: 'Configured' };
        expect(await repo().replaceSource('config', [configured], T0 + 1)).toMatchObject({
          updated: 1,
          skipped: [],
        });
        expect(await repo().get('A')).toMatchObject({ source: 'config', name: 'Configured' });
        // The directory no longer owns A, so it neither vanishes it nor takes it back.
        expect(await repo().replaceSource('directory', [A, B], T0 + 2)).toMatchObject({
          unchanged: 1,
          vanished: 0,
          skipped: [{ id: 'A', reason: 'id belongs to a config practice' }],
        });
        expect(await repo().replaceSource('config', [], T0 + 3)).toMatchObject({ vanished: 1 });
        expect(await repo().replaceSource('directory', [A, B], T0 + 4)).toMatchObject({
          updated: 1,
          unchanged: 1,
          skipped: [],
        });
        expect(await repo().get('A')).toMatchObject({
          ...A,
          source: 'directory',
          status: 'active',
        });
      });

      it('lets a new id take the base of a vanished practice', async () => {
        await repo().replaceSource('directory', [A], T0);
        await repo().replaceSource('directory', [], T0 + 1);
        const moved = practiceListing({ id: 'A2', base: A.base });
        expect(await repo().replaceSource('directory', [moved], T0 + 2)).toMatchObject({
          added: 1,
          skipped: [],
        });
        expect((await repo().byBase(A.base))?.id).toBe('A2');
      });

      it('writes nothing when the replacement fails part-way', async () => {
        await repo().replaceSource('directory', [A], T0);
        const broken = { ...B, name: null } as unknown as PracticeListing;
        await expect(repo().replaceSource('directory', [C, broken], T0 + 1)).rejects.toThrow();
        expect(ids(await repo().list({ limit: 10 }))).toEqual(['A']);
        expect((await repo().get('A'))?.status).toBe('active');
      });

      it('handles a 2,000-practice listing', async () => {
        const many = Array.from({ length: 2000 }, (_, i) =>
          practiceListing({ id: `P${i}`, name: `Practice ${i}` }),
        );
        expect(await repo().replaceSource('directory', many, T0)).toMatchObject({ added: 2000 });
        expect(await repo().replaceSource('directory', many.slice(500), T0 + 1)).toMatchObject({
          unchanged: 1500,
          vanished: 500,
        });
        expect(await repo().count({ status: ['active'] })).toBe(1500);
      });
    });
  });
}
