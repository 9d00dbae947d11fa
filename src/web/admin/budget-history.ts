// The last hour of every practice's call budget, sampled in this process for the dashboard's
// chart: used / limit, waiters and upstream 429s per sample. Started and stopped with the app.
import type { BudgetUsage } from '../../budget/port.ts';
import type { Clock } from '../../common/clock.ts';
import { realTimers, type Timers } from '../../common/timers.ts';

export interface BudgetSample {
  at: number;
  used: number;
  limit: number;
  waiting: number;
  rateLimited: number;
  locked: boolean;
}

export interface BudgetHistory {
  /** Takes one sample of every practice now (none where the last is under a second old). */
  sample(): Promise<void>;
  /** Per practice base, the samples of the last `windowMs`, oldest first. */
  read(): Record<string, BudgetSample[]>;
  start(): void;
  stop(): void;
}

export function createBudgetHistory({
  usageAll,
  clock,
  timers = realTimers,
  everyMs = 10_000,
  windowMs = 3_600_000,
}: {
  usageAll(): Promise<BudgetUsage[]>;
  clock: Clock;
  timers?: Timers;
  everyMs?: number;
  windowMs?: number;
}): BudgetHistory {
  const samples = new Map<string, BudgetSample[]>();
  let handle: ReturnType<Timers['setTimeout']> | undefined;
  let running = false;

  async function sample() {
    const now = clock.now();
    for (const u of await usageAll()) {
      const list = samples.get(u.practice) ?? [];
      // A page view samples too (so a chart is never empty); two samples a second apart add nothing.
      const last = list.at(-1);
      if (last && now - last.at < 1_000) continue;
      list.push({
        at: now,
        used: u.used,
        limit: u.limit,
        waiting: Object.values(u.waiting).reduce((a, b) => a + b, 0),
        rateLimited: u.rateLimited,
        locked: u.lockedUntil !== null && u.lockedUntil > now,
      });
      while (list.length > 0 && (list[0] as BudgetSample).at < now - windowMs) list.shift();
      samples.set(u.practice, list);
    }
  }

  const tick = () => {
    if (!running) return;
    sample()
      .catch(() => {})
      .finally(() => {
        if (running) handle = timers.setTimeout(tick, everyMs);
      });
  };

  return {
    sample,
    read: () => Object.fromEntries(samples),
    start() {
      if (running) return;
      running = true;
      tick();
    },
    stop() {
      running = false;
      if (handle !== undefined) timers.clearTimeout(handle);
    },
  };
}
