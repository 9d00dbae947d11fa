// The guard in exact counts, on a ManualClock. healow counts a call in the window it arrives in.
// A call granted at t in a window's guard [end - g, end) arrives before t + g, so in this window
// or in the next, never in both: the window it was granted in must have room for it (it may
// arrive there), and so must the next (it may arrive there instead). The budget counts it in
// both, and no more: the next window starts from the guard's calls and grants the rest of its
// limit. Checked by arrival: wherever each call lands, no window goes over the limit. A guard
// call answered before its window ends arrived there: told so (`landed`), the next window gives
// its slot back, and the limit still holds by arrival.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { ManualTimers } from '../common/timers.ts';
import { createMemoryBudget } from './memory.ts';
import { createBudgetPolicy } from './policy.ts';
import type { Grant } from './port.ts';
import { seeded } from './seeded-random.test-helper.ts';

const LIMIT = 10;
const WINDOW = 1_000;
const GUARD = 200;
const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const P = 'https://fhir4.healow.com/fhir/r4/JAFJCD';

function setup(reserveShare = 0) {
  const clock = new ManualClock(START);
  const timers = new ManualTimers(clock);
  const policy = createBudgetPolicy({
    limit: LIMIT,
    windowMs: WINDOW,
    guardMs: GUARD,
    reserveShare,
  });
  const budget = createMemoryBudget({ clock, timers, policy });
  const granted: number[] = [];
  const grants: Grant[] = [];
  const acquire = (n: number) =>
    Array.from({ length: n }, () =>
      budget.acquire(P, { priority: 'background' }).then(
        (grant) => {
          granted.push(clock.now());
          grants.push(grant);
        },
        () => {},
      ),
    );
  return { clock, timers, budget, granted, grants, acquire };
}

/** The window a call arriving at `t` counts in, as healow counts. */
const windowAt = (t: number) => Math.floor((t - START) / WINDOW);

describe('the guard: a call that may land in either window', () => {
  it('counts a call granted in the guard in its window and in the next, where the rest of the limit is granted', async () => {
    const { timers, budget, granted, acquire } = setup();
    acquire(7);
    await timers.advance(0);
    expect((await budget.usage(P)).used).toBe(7);
    await timers.advanceTo(START + WINDOW - GUARD);
    acquire(4);
    await timers.advance(0);
    // 3 fit in this window; the 4th waits for the next.
    expect(granted).toHaveLength(10);
    expect((await budget.usage(P)).used).toBe(LIMIT);
    await timers.advanceTo(START + WINDOW);
    // The next window starts from the 3 guard calls (they may land there) plus the waiter.
    expect(granted).toHaveLength(11);
    expect((await budget.usage(P)).used).toBe(4);
    acquire(7);
    await timers.advance(0);
    // 6 more fit (3 + 1 + 6 = the limit), the 7th waits.
    expect(granted).toHaveLength(17);
    expect((await budget.usage(P)).used).toBe(LIMIT);
    await timers.advanceTo(START + 2 * WINDOW);
    // Nothing was granted in that window's guard: the window after starts at 0 plus the waiter.
    expect((await budget.usage(P)).used).toBe(1);
    await budget.close();
  });

  it('does not carry a call granted just before the guard', async () => {
    const { timers, budget, acquire } = setup();
    await timers.advanceTo(START + WINDOW - GUARD - 1);
    acquire(10);
    await timers.advance(0);
    await timers.advanceTo(START + WINDOW);
    expect((await budget.usage(P)).used).toBe(0);
    await budget.close();
  });

  it('with the reserve, spends the whole limit before the guard while background work waits', async () => {
    const { timers, budget, granted, acquire } = setup(0.25);
    acquire(3 * LIMIT);
    await timers.advanceTo(START + WINDOW - GUARD);
    expect(granted).toHaveLength(LIMIT);
    expect(granted.every((t) => t < START + WINDOW - GUARD + 1)).toBe(true);
    await timers.advanceTo(START + WINDOW);
    // Nothing carried: the next window's whole limit, less its own reserve, at its start.
    expect((await budget.usage(P)).used).toBe(LIMIT - 2);
    await budget.close();
  });

  it('spends the whole limit in every window when work comes in the guards and each call is answered at once', async () => {
    const { clock, timers, budget, granted, grants, acquire } = setup();
    const arrivals = new Map<number, number>();
    const windows = 6;
    let told = 0;
    for (let w = 0; w < windows; w++) {
      // More work than a window holds, asked for in its guard only (syncs back from a refresh).
      await timers.advanceTo(START + (w + 1) * WINDOW - GUARD / 2);
      acquire(LIMIT + 2);
      await timers.advance(0);
      // Each call arrives and is answered when granted: the budget hears of the guard's calls.
      for (; told < grants.length; told++) {
        const window = windowAt(granted[told]!);
        arrivals.set(window, (arrivals.get(window) ?? 0) + 1);
        await budget.landed(grants[told]!, clock.now());
      }
    }
    expect(grants.filter((g) => g.guard).length).toBeGreaterThanOrEqual(LIMIT);
    expect([...arrivals.values()]).toEqual(Array.from({ length: windows }, () => LIMIT));
    await budget.close();
  });

  for (const [landing, told] of [
    ['late', false],
    ['early', false],
    ['random', false],
    ['early', true],
    ['random', true],
  ] as const) {
    const answered = told ? ', each answered on arrival and the budget told' : '';
    it(`keeps every window within the limit as healow counts by arrival, guard calls landing ${landing}${answered}`, async () => {
      const { timers, budget, granted, grants, acquire } = setup();
      const random = seeded(11);
      const arrivals = new Map<number, number>();
      /** Answers not yet reported to the budget: each at its call's arrival. */
      const answers: Array<{ grant: Grant; at: number }> = [];
      let seen = 0;
      /** Where each new grant lands (and when it is answered), then time moves on to `at`. */
      const advanceTo = async (at: number) => {
        for (; seen < granted.length; seen++) {
          const t = granted[seen]!;
          const inGuard = (t - START) % WINDOW >= WINDOW - GUARD;
          // A call reaches healow within the guard: a guard call lands in either window.
          const delay =
            landing === 'late' && inGuard
              ? GUARD - 1
              : landing === 'early'
                ? 0
                : Math.floor(random() * GUARD);
          arrivals.set(windowAt(t + delay), (arrivals.get(windowAt(t + delay)) ?? 0) + 1);
          if (told) answers.push({ grant: grants[seen]!, at: t + delay });
        }
        answers.sort((a, b) => a.at - b.at);
        while (answers.length > 0 && answers[0]!.at <= at) {
          const answer = answers.shift()!;
          await timers.advanceTo(answer.at);
          await budget.landed(answer.grant, answer.at);
        }
        await timers.advanceTo(at);
      };
      // Bursts of background calls at random instants over 30 windows, about 8 calls a window:
      // some windows fill early, some in their guard, some not at all.
      const windows = 30;
      let asked = 0;
      for (let at = START; at < START + windows * WINDOW; at += Math.floor(random() * 600)) {
        await advanceTo(at);
        const burst = 1 + Math.floor(random() * 4);
        acquire(burst);
        asked += burst;
        // Grants are stamped before the clock moves on.
        await timers.advance(0);
      }
      for (let w = windows; w < windows + 20; w++) await advanceTo(START + w * WINDOW);
      await advanceTo(START + (windows + 20) * WINDOW);
      expect(granted.filter((t) => (t - START) % WINDOW >= WINDOW - GUARD).length).toBeGreaterThan(
        0,
      );
      expect(Math.max(...arrivals.values())).toBeLessThanOrEqual(LIMIT);
      expect(granted).toHaveLength(asked);
      await budget.close();
    });
  }
});
