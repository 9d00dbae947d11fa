// Scheduled syncs: a first sync after connecting, a re-sync an interval after the last one ended,
// none while one is active or for connections that are not active.
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
import type { JobQueue } from './port.ts';
import { createSyncSchedule } from './schedule.ts';
import { createStoreJobQueue } from './store-queue.ts';
import { latestSync } from './sync-job.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-schedule-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const DAY = 24 * 3_600_000;

describe('sync schedule', () => {
  let store: Store;
  let clock: ManualClock;
  let queue: JobQueue;

  beforeEach(async () => {
    store = await openSqliteStore({ path: join(mkdtempSync(join(root, 's-')), 'store.db') });
    clock = new ManualClock();
    queue = createStoreJobQueue({ repo: store.jobs, clock });
  });
  afterEach(async () => {
    await store.close();
  });

  const schedule = (
    overrides: { intervalMs?: number; onConnect?: boolean; retryAfterFailureMs?: number } = {},
  ) =>
    createSyncSchedule({
      store,
      queue,
      clock,
      logger: createLogger({ level: 'silent' }),
      intervalMs: DAY,
      onConnect: true,
      checkIntervalMs: 60_000,
      pageSize: 2,
      ...overrides,
    });

  const connect = async (id: string, overrides: Parameters<typeof connection>[0] = {}) =>
    store.connections.insert(
      connection({ id, userRef: id, connectedAt: clock.now(), ...overrides }),
    );

  it('syncs newly connected active connections once, across pages of the scan', async () => {
    await connect('con_a');
    await connect('con_b');
    await connect('con_c');
    await connect('con_revoked', { state: 'revoked' });
    const s = schedule();
    expect(await s.runOnce()).toBe(3);
    expect(await s.runOnce()).toBe(0); // the queued ones hold their keys
    expect(await latestSync(queue, 'con_revoked')).toBeUndefined();
    expect((await latestSync(queue, 'con_a'))?.runAt).toBe(clock.now());
  });

  it('re-syncs an interval after the last sync ended', async () => {
    await connect('con_a');
    const s = schedule();
    await s.runOnce();
    const first = await queue.claim('w');
    clock.advance(5_000);
    await queue.complete(first!.id, 'w');
    const endedAt = clock.now();
    expect(await s.runOnce()).toBe(1);
    const next = await latestSync(queue, 'con_a');
    expect(next).toMatchObject({ status: 'queued', runAt: endedAt + DAY });
    expect(await queue.claim('w')).toBeUndefined();
    clock.advance(DAY);
    expect((await queue.claim('w'))?.id).toBe(next?.id);
  });

  it('after a sync that failed for good, the next one is due retryAfterFailureMs later', async () => {
    await connect('con_a');
    const s = schedule({ retryAfterFailureMs: 3_600_000 });
    await s.runOnce();
    const first = await queue.claim('w');
    await queue.fail(first!.id, 'w', { message: 'revoked upstream', retryable: false });
    const endedAt = clock.now();
    expect(await s.runOnce()).toBe(1);
    expect(await latestSync(queue, 'con_a')).toMatchObject({
      status: 'queued',
      runAt: endedAt + 3_600_000,
    });
  });

  it('with interval 0 only the first sync is scheduled; without onConnect none is', async () => {
    await connect('con_a');
    const once = schedule({ intervalMs: 0 });
    expect(await once.runOnce()).toBe(1);
    const job = await queue.claim('w');
    await queue.complete(job!.id, 'w');
    expect(await once.runOnce()).toBe(0);

    await connect('con_b');
    expect(await schedule({ onConnect: false, intervalMs: 0 }).runOnce()).toBe(0);
    expect(await latestSync(queue, 'con_b')).toBeUndefined();
  });

  it('checks on its interval once started, and stops on close', async () => {
    const timers = new ManualTimers(clock);
    await connect('con_a');
    let woken = 0;
    const s = createSyncSchedule({
      store,
      queue,
      clock,
      timers,
      logger: createLogger({ level: 'silent' }),
      intervalMs: DAY,
      onConnect: true,
      checkIntervalMs: 60_000,
      onDue: () => woken++,
    });
    s.start();
    await timers.advance(59_999);
    expect(await latestSync(queue, 'con_a')).toBeUndefined();
    await timers.advance(1);
    expect(await latestSync(queue, 'con_a')).toBeDefined();
    expect(woken).toBe(1);
    await s.close();
    expect(timers.pending).toBe(0);
  });
});
