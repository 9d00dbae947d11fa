// `connection.expiring`: fires inside the notice window before the refresh token's 90 days end,
// once per connection and grant, never for connections that are not active.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { createLogger } from '../common/logger.ts';
import { ManualTimers } from '../common/timers.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { connection } from '../store/store.contract.ts';
import { createExpiryNotices } from './expiring.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-expiring-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DAY = 24 * 3_600_000;

describe('connection.expiring', () => {
  let store: Store;
  let clock: ManualClock;
  beforeEach(async () => {
    store = await openSqliteStore({ path: join(mkdtempSync(join(root, 'e-')), 'store.db') });
    clock = new ManualClock();
  });
  afterEach(async () => {
    await store.close();
  });

  const notices = (timers?: ManualTimers) =>
    createExpiryNotices({
      store,
      clock,
      logger: createLogger({ level: 'silent' }),
      noticeDays: 7,
      checkIntervalMs: 3_600_000,
      pageSize: 2,
      ...(timers ? { timers } : {}),
    });
  const expiring = async () =>
    (await store.events.list({ limit: 100 })).filter((e) => e.type === 'connection.expiring');

  it('fires once per connection and grant, inside the notice window only', async () => {
    const grantedAt = clock.now();
    const ends = grantedAt + 90 * DAY;
    await store.connections.insert(
      connection({ id: 'con_a', userRef: 'a', refreshExpiresAt: ends }),
    );
    const n = notices();

    clock.set(ends - 7 * DAY - 1);
    expect(await n.runOnce()).toBe(0);
    clock.set(ends - 7 * DAY);
    expect(await n.runOnce()).toBe(1);
    clock.advance(DAY);
    expect(await n.runOnce()).toBe(0);
    const [event] = await expiring();
    expect(event).toMatchObject({
      connectionId: 'con_a',
      data: { refreshExpiresAt: new Date(ends).toISOString(), daysLeft: 7 },
    });
    expect(JSON.stringify(event)).not.toMatch(/token/i);

    // The patient re-consents: a new grant with a new end gets its own notice, in its own window.
    const renewed = clock.now() + 90 * DAY;
    await store.connections.update('con_a', { refreshExpiresAt: renewed });
    expect(await n.runOnce()).toBe(0);
    clock.set(renewed - 3 * DAY);
    expect(await n.runOnce()).toBe(1);
    expect((await expiring()).map((e) => e.data.daysLeft)).toEqual([7, 3]);
  });

  it('skips connections that are not active, have no end, or already ended', async () => {
    const ends = clock.now() + 5 * DAY;
    await store.connections.insert(
      connection({ id: 'con_r', userRef: 'r', state: 'revoked', refreshExpiresAt: ends }),
    );
    await store.connections.insert(
      connection({ id: 'con_n', userRef: 'n', refreshExpiresAt: null }),
    );
    await store.connections.insert(
      connection({ id: 'con_x', userRef: 'x', refreshExpiresAt: clock.now() - 1 }),
    );
    await store.connections.insert(
      connection({ id: 'con_ok', userRef: 'ok', refreshExpiresAt: ends }),
    );
    expect(await notices().runOnce()).toBe(1);
    expect((await expiring()).map((e) => e.connectionId)).toEqual(['con_ok']);
  });

  it('checks at start and then on its interval', async () => {
    const timers = new ManualTimers(clock);
    await store.connections.insert(
      connection({ id: 'con_a', userRef: 'a', refreshExpiresAt: clock.now() + 8 * DAY }),
    );
    const n = notices(timers);
    n.start();
    await timers.advance(0);
    expect(await expiring()).toHaveLength(0);
    await timers.advance(DAY);
    expect(await expiring()).toHaveLength(1);
    await n.close();
    expect(timers.pending).toBe(0);
  });
});
