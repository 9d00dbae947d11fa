// Leases of the shared budget (shared.ts), on the SQLite store: a steady stream of calls takes a
// store step for few of them, the unspent calls of a lease go back when its slice ends, and two
// processes leasing from one file never spend more than the limit between them.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { ManualTimers } from '../common/timers.ts';
import { createBudgetPolicy } from './policy.ts';
import type { Budget } from './port.ts';
import { openRedisBudgetStore } from './redis.ts';
import {
  type BudgetStore,
  createSharedBudget,
  DEFAULT_LEASE_MS,
  LEASE_MIN_LIMIT,
  type SharedBudgetDeps,
} from './shared.ts';
import { openSqliteBudgetStore } from './sqlite.ts';
import { tempDbFiles } from './temp-db.test-helper.ts';

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const P = 'https://fhir4.healow.com/fhir/r4/JAFJCD';

const tempFile = tempDbFiles('fhirbridge-lease-');

/** The SQLite store with its steps counted. */
function countedStore(path: string, policy: SharedBudgetDeps['policy']) {
  const store = openSqliteBudgetStore({ path, policy });
  const counted = { steps: 0 };
  const wrapped: BudgetStore = {
    step: (input) => {
      counted.steps += 1;
      return store.step(input);
    },
    usageAll: (now) => store.usageAll(now),
    close: () => store.close(),
  };
  return { store: wrapped, counted };
}

/** Acquires with a deadline of now until one is refused; the number granted. */
async function takeAllFree(budget: Budget, clock: ManualClock): Promise<number> {
  let granted = 0;
  for (;;) {
    try {
      await budget.acquire(P, { priority: 'interactive', deadline: clock.now() });
      granted += 1;
    } catch {
      return granted;
    }
  }
}

/** A manual clock at START, its timers, and a policy of `limit` calls a window with no reserve. */
function manualBudgetTime(limit: number) {
  const clock = new ManualClock(START);
  const timers = new ManualTimers(clock);
  const policy = createBudgetPolicy({ limit, reserveShare: 0 });
  return { clock, timers, policy };
}

/**
 * Spends 41 calls, which leases more than 41 from the store; once the lease's slice ends, the
 * store counts exactly the 41 spent. Closes the budget.
 */
async function expectUnspentLeaseGivenBack(budget: Budget, timers: ManualTimers): Promise<void> {
  for (let i = 0; i < 41; i++) await budget.acquire(P, { priority: 'interactive' });
  expect((await budget.usage(P)).used).toBeGreaterThan(41);
  await timers.advance(DEFAULT_LEASE_MS);
  expect((await budget.usage(P)).used).toBe(41);
  await budget.close();
}

describe('shared budget leases', () => {
  it('takes a store step for a small share of a steady stream of calls', async () => {
    const { clock, timers, policy } = manualBudgetTime(1_000_000);
    const { store, counted } = countedStore(tempFile(), policy);
    const budget = createSharedBudget({ clock, policy, store, timers });
    for (let i = 0; i < 1000; i++) await budget.acquire(P, { priority: 'interactive' });
    expect(counted.steps).toBeLessThanOrEqual(1000 / 50);
    await budget.close();
  });

  it('takes a step per call when leases are off', async () => {
    const { clock, timers, policy } = manualBudgetTime(1_000_000);
    const { store, counted } = countedStore(tempFile(), policy);
    const budget = createSharedBudget({ clock, policy, store, timers, leaseMs: 0 });
    for (let i = 0; i < 100; i++) await budget.acquire(P, { priority: 'interactive' });
    expect(counted.steps).toBe(100);
    await budget.close();
  });

  it('gives the unspent calls of a lease back when its slice ends', async () => {
    const { clock, timers, policy } = manualBudgetTime(10_000);
    const path = tempFile();
    const budget = createSharedBudget({
      clock,
      policy,
      timers,
      store: countedStore(path, policy).store,
    });
    await expectUnspentLeaseGivenBack(budget, timers);
  });

  it('gives the unspent calls of a lease back on Redis too', async () => {
    const { clock, timers, policy } = manualBudgetTime(10_000);
    const store = openRedisBudgetStore({
      url: process.env.FHIRBRIDGE_TEST_REDIS ?? 'redis://127.0.0.1:6379',
      policy,
      keyPrefix: `fhirbridge-test:lease:${process.pid}:${Date.now()}:`,
    });
    const budget = createSharedBudget({ clock, policy, timers, store });
    await expectUnspentLeaseGivenBack(budget, timers);
  });

  it('spends no leased call after a 429, and hands the lease back', async () => {
    const { clock, timers, policy } = manualBudgetTime(10_000);
    const budget = createSharedBudget({
      clock,
      policy,
      timers,
      store: countedStore(tempFile(), policy).store,
    });
    for (let i = 0; i < 41; i++) await budget.acquire(P, { priority: 'interactive' });
    await budget.reportRateLimited(P);
    expect(await budget.usage(P)).toMatchObject({ used: 41, lockedUntil: START + 60_000 });
    await expect(
      budget.acquire(P, { priority: 'interactive', deadline: clock.now() }),
    ).rejects.toMatchObject({ code: 'budget_exhausted' });
    await budget.close();
  });

  it('takes no lease where a window allows fewer than LEASE_MIN_LIMIT calls', async () => {
    const { clock, timers, policy } = manualBudgetTime(LEASE_MIN_LIMIT - 1);
    const { store, counted } = countedStore(tempFile(), policy);
    const budget = createSharedBudget({ clock, policy, store, timers });
    for (let i = 0; i < 100; i++) await budget.acquire(P, { priority: 'interactive' });
    expect(counted.steps).toBe(100);
    expect((await budget.usage(P)).used).toBe(100);
    await budget.close();
  });

  it('never lets two leasing processes spend more than the limit, and hands back the rest', async () => {
    const { clock, timers, policy } = manualBudgetTime(2_000);
    const path = tempFile();
    const open = () =>
      createSharedBudget({ clock, policy, timers, store: countedStore(path, policy).store });
    const [a, b] = [open(), open()];
    // Both take what is free at this instant, in turns, each with its leases.
    let granted = 0;
    for (let round = 0; round < 40; round++) {
      for (const budget of [a, b]) {
        for (let i = 0; i < 30; i++) {
          try {
            await budget.acquire(P, { priority: 'interactive', deadline: clock.now() });
            granted += 1;
          } catch {
            break;
          }
        }
      }
    }
    granted += (await takeAllFree(a, clock)) + (await takeAllFree(b, clock));
    expect(granted).toBeLessThanOrEqual(2_000);
    // The slices end: what the leases held comes back, and the window is spent exactly.
    await timers.advance(DEFAULT_LEASE_MS);
    granted += (await takeAllFree(a, clock)) + (await takeAllFree(b, clock));
    await timers.advance(DEFAULT_LEASE_MS);
    granted += (await takeAllFree(a, clock)) + (await takeAllFree(b, clock));
    expect(granted).toBe(2_000);
    expect((await a.usage(P)).used).toBe(2_000);
    await a.close();
    await b.close();
  });
});
