// The Redis budget against the budget contract, alone and as two clients on one Redis (what
// processes on several machines are), on the Redis at 127.0.0.1:6379 under a key prefix of this
// run's own, dropped after.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { ManualTimers } from '../common/timers.ts';
import { budgetContract } from './budget.contract.ts';
import { createBudgetPolicy } from './policy.ts';
import { createRedisBudget } from './redis.ts';

const URL = process.env.FHIRBRIDGE_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const RUN = `fhirbridge-test:budget:${randomUUID()}:`;
let backends = 0;

afterAll(async () => {
  const redis = new Redis(URL);
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${RUN}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

budgetContract(
  'redis',
  () => {
    const keyPrefix = `${RUN}${++backends}:`;
    const opened: Array<ReturnType<typeof createRedisBudget>> = [];
    return {
      open: (deps) => {
        const budget = createRedisBudget({ url: URL, keyPrefix, ...deps });
        opened.push(budget);
        return budget;
      },
      settle: async () => {
        await Promise.all(opened.map((budget) => budget.settled()));
      },
    };
  },
  { instances: [1, 2] },
);

describe('createRedisBudget', () => {
  it('answers budget_exhausted, not a hang, while Redis cannot be reached', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    const budget = createRedisBudget({
      // Nothing listens on port 1.
      url: 'redis://127.0.0.1:1',
      keyPrefix: `${RUN}down:`,
      clock,
      timers: new ManualTimers(clock),
      policy: createBudgetPolicy(),
    });
    await expect(
      budget.acquire('https://fhir4.healow.com/fhir/r4/JAFJCD', { priority: 'interactive' }),
    ).rejects.toMatchObject({ code: 'budget_exhausted' });
    await budget.close();
  });
});
