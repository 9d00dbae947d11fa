// The connection list's filters and cursor against a real SQLite store: every match once, newest
// first, across store batches, while connections are added and deleted between pages.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { BridgeError } from '../common/errors.ts';
import type { ConnectionState, Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { connection } from '../store/store.contract.ts';
import {
  type ConnectionFilter,
  decodeCursor,
  encodeCursor,
  listConnections,
  parseStates,
} from './connection-list.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-api-list-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ADMIN = { name: 'ops', role: 'admin' as const };
const APP = { name: 'app-a', role: 'app' as const };
const BASE_A = 'https://fhir4.healow.com/fhir/r4/JAFJCD';
const BASE_B = 'https://fhir4.healow.com/fhir/r4/BFGHDA';
const STATES: ConnectionState[] = ['active', 'revoked', 'declined', 'active', 'expired'];

/** 450 connections (more than two store batches), two per millisecond so that ids break ties. */
async function fill(store: Store) {
  for (let n = 0; n < 450; n++) {
    await store.connections.insert(
      connection({
        id: `con_${String(n).padStart(12, '0')}`,
        userRef: n % 3 === 0 ? `app:app-a:user-${n}` : `user-${n}`,
        practiceBase: n % 2 === 0 ? BASE_A : BASE_B,
        state: STATES[n % STATES.length] as ConnectionState,
        createdAt: 1_000 + Math.floor(n / 2),
      }),
    );
  }
}

/** Every page of a filtered listing, following nextCursor. */
async function allPages(
  store: Store,
  filter: ConnectionFilter,
  limit: number,
  between?: (page: number, listed: readonly string[]) => Promise<void>,
) {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const result = await listConnections(store, ADMIN, {
      limit,
      filter,
      ...(cursor ? { cursor: decodeCursor(cursor) } : {}),
    });
    ids.push(...result.connections.map((c) => c.id));
    if (!result.next) return ids;
    cursor = encodeCursor(result.next);
    await between?.(page, ids);
  }
  throw new Error('the cursor never ended');
}

describe('listConnections', () => {
  let store: Store;
  beforeEach(async () => {
    store = await openSqliteStore({ path: join(mkdtempSync(join(root, 's-')), 'store.db') });
    await fill(store);
  });

  it('pages through every match once, newest first, across store batches', async () => {
    const all = await store.connections.list({ limit: 1000 });
    const expected = all
      .filter((c) => c.state === 'active' && c.practiceBase === BASE_A)
      .map((c) => c.id);
    expect(expected.length).toBe(90);
    const ids = await allPages(store, { states: ['active'], practiceBase: BASE_A }, 7);
    expect(ids).toEqual(expected);
  });

  it('neither repeats nor skips when connections are added and seen ones deleted between pages', async () => {
    const before = (await store.connections.list({ limit: 1000 }))
      .filter((c) => c.state !== 'revoked')
      .map((c) => c.id);
    let added = 0;
    let deleted = 0;
    const ids = await allPages(
      store,
      { states: ['active', 'declined', 'expired'] },
      40,
      async (page, listed) => {
        // A newer connection (in front of everything) and a deletion of one already listed.
        await store.connections.insert(
          connection({
            id: `con_new${String(page).padStart(9, '0')}`,
            userRef: `new-${page}`,
            createdAt: 99_999 + page,
          }),
        );
        added++;
        // Two out per one in, so the rows after the cursor really move up.
        for (const victim of listed.slice(2 * page, 2 * page + 2)) {
          await store.connections.delete(victim);
          deleted++;
        }
      },
    );
    expect(deleted).toBeGreaterThan(3);
    expect(added).toBeGreaterThan(3);
    // Deletions happen only to rows already listed, so the first listing's matches all appear,
    // once each; the new ones are newer than the first page and are not listed.
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => !id.startsWith('con_new'))).toEqual(before);
  });

  it('an app key lists its own connections only, and filters by its own userRef', async () => {
    const own = await listConnections(store, APP, { limit: 500, filter: {} });
    expect(own.connections).toHaveLength(150);
    expect(own.connections.every((c) => c.userRef.startsWith('app:app-a:'))).toBe(true);
    const one = await listConnections(store, APP, { limit: 10, filter: { userRef: 'user-300' } });
    expect(one.connections.map((c) => c.id)).toEqual(['con_000000000300']);
    expect(one.next).toBeNull();
    // Another app's user is not found by name.
    const other = await listConnections(store, APP, { limit: 10, filter: { userRef: 'user-301' } });
    expect(other.connections).toEqual([]);
  });

  it('keeps offset paging for callers that used it', async () => {
    const page = await listConnections(store, ADMIN, { limit: 5, offset: 10, filter: {} });
    const all = await store.connections.list({ limit: 15 });
    expect(page.connections.map((c) => c.id)).toEqual(all.slice(10).map((c) => c.id));
  });
});

describe('cursors and states', () => {
  it('refuses a cursor that is not one of this list', () => {
    expect(() => decodeCursor('not-a-cursor')).toThrow(BridgeError);
    expect(() => decodeCursor(Buffer.from('{"t":1,"i":"x","o":1}').toString('base64url'))).toThrow(
      /is not a cursor/,
    );
    const c = { createdAt: 5, id: 'con_abcdefghijk', position: 3 };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
  });

  it('reads a comma-separated state list and names unknown states', () => {
    expect(parseStates('active,reauthorization_required')).toEqual([
      'active',
      'reauthorization_required',
    ]);
    expect(() => parseStates('active,sleeping')).toThrow(
      /unknown sleeping \(one of pending, active/,
    );
  });
});
