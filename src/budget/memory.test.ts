// The memory adapter against the budget contract, plus what only it promises.
import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../common/clock.ts';
import { budgetContract } from './budget.contract.ts';
import { createMemoryBudget } from './memory.ts';
import { createBudgetPolicy } from './policy.ts';

budgetContract('memory', () => ({
  open: ({ clock, timers, policy }) => createMemoryBudget({ clock, timers, policy }),
}));

describe('createMemoryBudget', () => {
  it('runs on real timers and the system clock by default', async () => {
    const budget = createMemoryBudget({ clock: systemClock, policy: createBudgetPolicy() });
    await budget.acquire('https://fhir4.healow.com/fhir/r4/JAFJCD', { priority: 'interactive' });
    const usage = await budget.usage('https://fhir4.healow.com/fhir/r4/JAFJCD');
    expect(usage.limit).toBe(240);
    expect(usage.windowEnd - usage.windowStart).toBe(60_000);
    expect(usage.windowStart % 60_000).toBe(0);
    // A waiter on a real timer is rejected by close instead of keeping the process alive.
    // (A ManualClock that never moves: the window cannot flip between the two calls.)
    const full = createMemoryBudget({
      clock: new ManualClock(),
      policy: createBudgetPolicy({ limit: 1 }),
    });
    await full.acquire('p', { priority: 'background' });
    const waiting = full.acquire('p', { priority: 'background' });
    await full.close();
    await expect(waiting).rejects.toMatchObject({ code: 'budget_exhausted' });
    await budget.close();
  });

  it('does not list a practice that was only read', async () => {
    const budget = createMemoryBudget({ clock: new ManualClock(), policy: createBudgetPolicy() });
    expect((await budget.usage('https://example.test/fhir')).used).toBe(0);
    expect(await budget.usageAll()).toEqual([]);
    await budget.close();
  });
});
