import { describe, expect, it } from 'vitest';
import type { BudgetUsage } from '../../budget/port.ts';
import { ManualClock } from '../../common/clock.ts';
import { createBudgetHistory } from './budget-history.ts';

const usage = (used: number, at: number, lockedUntil: number | null = null): BudgetUsage => ({
  practice: 'https://ehr.example/fhir/A',
  limit: 240,
  used,
  windowStart: at,
  windowEnd: at + 60_000,
  waiting: { interactive: 1, refresh: 0, background: 2 },
  lockedUntil,
  lockReason: null,
  rateLimited: 3,
});

describe('budget history', () => {
  it('keeps the last hour of samples per practice, oldest first', async () => {
    const clock = new ManualClock();
    let used = 0;
    const history = createBudgetHistory({
      clock,
      usageAll: async () => [usage(used, clock.now(), used === 2 ? clock.now() + 5_000 : null)],
      windowMs: 3_600_000,
    });
    const start = clock.now();
    for (used = 0; used < 4; used++) {
      await history.sample();
      clock.advance(30 * 60_000);
    }
    const samples = history.read()['https://ehr.example/fhir/A'] ?? [];
    // Taken at 0, 30, 60 and 90 minutes; read at 90: the one at 0 has left the hour.
    expect(samples.map((s) => [(s.at - start) / 60_000, s.used, s.locked])).toEqual([
      [30, 1, false],
      [60, 2, true],
      [90, 3, false],
    ]);
    expect(samples[0]).toMatchObject({ limit: 240, waiting: 3, rateLimited: 3 });
  });

  it('adds nothing for a sample under a second after the last', async () => {
    const clock = new ManualClock();
    const history = createBudgetHistory({ clock, usageAll: async () => [usage(1, clock.now())] });
    await history.sample();
    clock.advance(999);
    await history.sample();
    clock.advance(1);
    await history.sample();
    expect(history.read()['https://ehr.example/fhir/A']).toHaveLength(2);
  });
});
