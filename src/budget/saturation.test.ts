// Live reads first under saturation, on a ManualClock with healow's real window: 4 syncs that
// would take every call at once and a person's live reads arriving at random. With the reserve,
// live reads wait at most a second at p99 and every window is still spent to >= 98 % of its
// limit; without it (the old policy), live reads wait for the next window. On the memory budget,
// and on the SQLite one as two processes sharing a file (syncs and readers spread over both).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { ManualTimers } from '../common/timers.ts';
import { createMemoryBudget } from './memory.ts';
import { createBudgetPolicy } from './policy.ts';
import type { Budget, BudgetPolicy } from './port.ts';
import { seeded } from './seeded-random.test-helper.ts';
import { createSqliteBudget } from './sqlite.ts';

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const WINDOW = 60_000;
const LIMIT = 240;
const P = 'https://fhir4.healow.com/fhir/r4/JAFJCD';

/**
 * 4 syncs, each 4 calls at a time with 50 ms upstream latency (far more than a window holds),
 * and `reads` live reads spread at random over `windows` windows. Returns each live read's wait
 * and the calls spent in each window.
 */
async function saturate(
  makeBudgets: (deps: {
    clock: ManualClock;
    timers: ManualTimers;
    policy: BudgetPolicy;
  }) => Budget[],
  policy: BudgetPolicy,
  { reads = 360, windows = 6 } = {},
): Promise<{ waits: number[]; perWindow: number[] }> {
  const clock = new ManualClock(START);
  const timers = new ManualTimers(clock);
  // Several budgets stand for several processes: syncs and readers spread over them.
  const budgets = makeBudgets({ clock, timers, policy });
  const budgetOf = (i: number) => budgets[i % budgets.length]!;
  const random = seeded(7);
  const sleep = (ms: number) => new Promise<void>((done) => timers.setTimeout(done, ms));
  const end = START + windows * WINDOW;
  const spent: number[] = [];
  let stop = false;
  const sync = async (id: number) => {
    const lane = async () => {
      while (!stop) {
        await budgetOf(id).acquire(P, { priority: 'background', connectionId: `sync${id}` });
        if (clock.now() >= end) return;
        spent.push(clock.now());
        await sleep(50);
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
  };
  const waits: number[] = [];
  const read = async (at: number) => {
    await sleep(at - clock.now());
    const asked = clock.now();
    await budgetOf(at).acquire(P, { priority: 'interactive', connectionId: `person${at % 7}` });
    waits.push(clock.now() - asked);
    spent.push(clock.now());
  };
  const arrivals = Array.from(
    { length: reads },
    () => START + Math.floor(random() * (end - START)),
  );
  const work = Promise.all([...[0, 1, 2, 3].map(sync), ...arrivals.map(read)]);
  await timers.advanceTo(end);
  stop = true;
  await timers.advanceTo(end + WINDOW);
  await work;
  await Promise.all(budgets.map((budget) => budget.close()));
  const perWindow = Array.from({ length: windows }, (_, w) => {
    const from = START + w * WINDOW;
    return spent.filter((t) => t >= from && t < from + WINDOW).length;
  });
  return { waits, perWindow };
}

const p99 = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil(0.99 * sorted.length) - 1] ?? 0;
};

type Deps = { clock: ManualClock; timers: ManualTimers; policy: BudgetPolicy };

const adapters: Array<{ name: string; make: (deps: Deps) => Budget[] }> = [
  { name: 'memory', make: (deps) => [createMemoryBudget(deps)] },
  {
    name: 'SQLite, two processes on one file',
    make: (deps) => {
      const dir = mkdtempSync(join(tmpdir(), 'fhirbridge-saturation-'));
      dirs.push(dir);
      const path = join(dir, 'fhirbridge.db');
      return [createSqliteBudget({ path, ...deps }), createSqliteBudget({ path, ...deps })];
    },
  },
];

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe.each(adapters)('live reads first under saturation ($name, 240 a minute)', ({ make }) => {
  it('keeps live reads within 1 s at p99 while every window is spent to >= 98 %', async () => {
    const { waits, perWindow } = await saturate(make, createBudgetPolicy({ limit: LIMIT }));
    expect(waits).toHaveLength(360);
    expect(p99(waits)).toBeLessThanOrEqual(1_000);
    for (const calls of perWindow) {
      expect(calls).toBeLessThanOrEqual(LIMIT);
      expect(calls).toBeGreaterThanOrEqual(Math.ceil(0.98 * LIMIT));
    }
  });

  it('without the reserve, live reads wait for the next window', async () => {
    const { waits, perWindow } = await saturate(
      make,
      createBudgetPolicy({ limit: LIMIT, reserveShare: 0 }),
    );
    expect(p99(waits)).toBeGreaterThan(30_000);
    for (const calls of perWindow) expect(calls).toBe(LIMIT);
  });
});
