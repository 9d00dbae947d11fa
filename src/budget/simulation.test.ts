// Many clients on 5 practices with a compressed window (20 calls per 1000 ms on a ManualClock):
// each window spends its whole limit while work waits, never more, and a 429 lock holds.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { ManualTimers } from '../common/timers.ts';
import { createMemoryBudget } from './memory.ts';
import { createBudgetPolicy } from './policy.ts';
import type { Priority } from './port.ts';
import { seeded } from './seeded-random.test-helper.ts';

const LIMIT = 20;
const WINDOW = 1_000;
const START = 1_767_268_800_000; // 2026-01-01T12:00:00Z, a window boundary
const PRIORITY_MIX: Priority[] = ['interactive', 'refresh', 'background', 'background'];

interface Load {
  practice: string;
  connections: number;
  callsPerConnection: number;
}

async function simulate(
  loads: Load[],
  lockAt?: { practice: string; at: number; retryAfterMs: number },
) {
  const clock = new ManualClock(START);
  const timers = new ManualTimers(clock);
  const budget = createMemoryBudget({
    clock,
    timers,
    // The old policy (no reserve): these promises are about counts and locks, not priority.
    policy: createBudgetPolicy({ limit: LIMIT, windowMs: WINDOW, reserveShare: 0 }),
  });
  const random = seeded(42);
  const sleep = (ms: number) => new Promise<void>((resolve) => timers.setTimeout(resolve, ms));
  /** Call times per practice. */
  const spent = new Map<string, number[]>(loads.map((l) => [l.practice, []]));
  /** Windows that ended with work still waiting, per practice. */
  const busyWindows = new Map<string, Set<number>>(loads.map((l) => [l.practice, new Set()]));

  async function client({ practice, callsPerConnection }: Load, index: number) {
    await sleep(Math.floor(random() * WINDOW)); // clients arrive throughout the first window
    for (let call = 0; call < callsPerConnection; call++) {
      const priority = PRIORITY_MIX[(index + call) % PRIORITY_MIX.length]!;
      await budget.acquire(practice, { priority, connectionId: `${practice}#${index}` });
      spent.get(practice)!.push(clock.now());
      await sleep(Math.floor(random() * 300)); // the upstream call's latency
    }
  }

  let finished = false;
  const clients = Promise.all(
    loads.flatMap((load) => Array.from({ length: load.connections }, (_, i) => client(load, i))),
  ).then(() => {
    finished = true;
  });
  if (lockAt) {
    timers.setTimeout(
      () => void budget.reportRateLimited(lockAt.practice, { retryAfterMs: lockAt.retryAfterMs }),
      lockAt.at - START,
    );
  }

  for (let window = 0; !finished; window++) {
    expect(window, 'the simulation finishes').toBeLessThan(100);
    await timers.advanceTo(START + (window + 1) * WINDOW - 1);
    for (const usage of await budget.usageAll()) {
      const waiting = usage.waiting.interactive + usage.waiting.refresh + usage.waiting.background;
      if (waiting > 0) busyWindows.get(usage.practice)!.add(window);
    }
    await timers.advance(1);
  }
  await clients;
  await budget.close();
  return { spent, busyWindows };
}

function perWindow(times: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const time of times) {
    const window = Math.floor((time - START) / WINDOW);
    counts.set(window, (counts.get(window) ?? 0) + 1);
  }
  return counts;
}

describe('budget simulation: 5 practices, many clients, compressed windows', () => {
  const practices = ['P1', 'P2', 'P3', 'P4', 'P5'].map(
    (c) => `https://fhir4.healow.com/fhir/r4/${c}`,
  );

  it('spends every window to the limit while work waits, and never more', async () => {
    const loads: Load[] = practices.map((practice, i) => ({
      practice,
      // P5 is light: its windows need not fill, and nothing there may wait.
      connections: i === 4 ? 2 : 10 + 5 * i,
      callsPerConnection: i === 4 ? 3 : 24,
    }));
    const { spent, busyWindows } = await simulate(loads);

    for (const { practice, connections, callsPerConnection } of loads) {
      const times = spent.get(practice)!;
      expect(times).toHaveLength(connections * callsPerConnection);
      const counts = perWindow(times);
      for (const count of counts.values()) expect(count).toBeLessThanOrEqual(LIMIT);
      const busy = [...busyWindows.get(practice)!];
      const used = busy.reduce((sum, window) => sum + (counts.get(window) ?? 0), 0);
      // Work waited at the end of each of these windows, so each must have been spent out.
      expect(used).toBeGreaterThanOrEqual(0.95 * LIMIT * busy.length);
      for (const window of busy) expect(counts.get(window)).toBe(LIMIT);
      // ...and the work left waiting was woken at the very start of the next window.
      for (const window of busy) expect(times).toContain(START + (window + 1) * WINDOW);
    }
    // The heavy practices really were saturated for several windows.
    expect(busyWindows.get(practices[0]!)!.size).toBeGreaterThanOrEqual(5);
    expect(busyWindows.get(practices[4]!)!.size).toBe(0);
  });

  it('spends nothing at a practice while a 429 lock holds, and the work still finishes', async () => {
    const lockAt = { practice: practices[0]!, at: START + 2 * WINDOW + 100, retryAfterMs: 1_500 };
    const loads: Load[] = practices.map((practice) => ({
      practice,
      connections: 25,
      callsPerConnection: 8,
    }));
    const { spent } = await simulate(loads, lockAt);
    const locked = spent.get(lockAt.practice)!;
    expect(locked).toHaveLength(200);
    const lockEnd = lockAt.at + lockAt.retryAfterMs;
    expect(locked.filter((t) => t >= lockAt.at && t < lockEnd)).toEqual([]);
    expect(locked.filter((t) => t === lockEnd)).toHaveLength(LIMIT);
    for (const practice of practices.slice(1)) {
      expect(perWindow(spent.get(practice)!).get(3)).toBe(LIMIT);
    }
  });
});
