// The SQLite budget against the budget contract, alone and as two handles on one file (what two
// processes on one machine are), plus what only it promises.
import Sqlite from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { ManualTimers, nextMacrotask } from '../common/timers.ts';
import { budgetContract } from './budget.contract.ts';
import { createBudgetPolicy } from './policy.ts';
import { createSqliteBudget } from './sqlite.ts';
import { tempDbFiles } from './temp-db.test-helper.ts';

const tempFile = tempDbFiles('fhirbridge-budget-');

budgetContract(
  'sqlite',
  () => {
    const path = tempFile();
    const opened: Array<ReturnType<typeof createSqliteBudget>> = [];
    return {
      open: (deps) => {
        const budget = createSqliteBudget({ path, ...deps });
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

describe('createSqliteBudget', () => {
  const START = Date.UTC(2026, 0, 1, 12, 0, 0);
  const P = 'https://fhir4.healow.com/fhir/r4/JAFJCD';

  it('opens a file whose budget tables lack the carried count and the grant time, keeping its count', async () => {
    const path = tempFile();
    const db = new Sqlite(path);
    db.exec(`CREATE TABLE budget_practices (practice TEXT PRIMARY KEY, window INTEGER NOT NULL,
      used INTEGER NOT NULL, early INTEGER NOT NULL, locked_until INTEGER, lock_reason TEXT,
      rate_limited INTEGER NOT NULL, priority_used INTEGER NOT NULL,
      priority_last INTEGER NOT NULL, seq INTEGER NOT NULL) STRICT;
    CREATE TABLE budget_waiters (id TEXT PRIMARY KEY, practice TEXT NOT NULL, owner TEXT NOT NULL,
      priority TEXT NOT NULL, lane TEXT NOT NULL, cost INTEGER NOT NULL, seq INTEGER NOT NULL,
      granted INTEGER NOT NULL DEFAULT 0) STRICT;`);
    const minute = Math.floor(START / 60_000);
    db.prepare('INSERT INTO budget_practices VALUES (?, ?, 3, 0, NULL, NULL, 0, 0, 0, 1)').run(
      P,
      minute,
    );
    db.close();
    const clock = new ManualClock(START);
    const policy = createBudgetPolicy({ limit: 5, reserveShare: 0 });
    const budget = createSqliteBudget({ path, clock, policy, timers: new ManualTimers(clock) });
    const grant = await budget.acquire(P, { priority: 'background' });
    expect(grant).toMatchObject({ practice: P, window: minute, guard: false });
    expect((await budget.usage(P)).used).toBe(4);
    await budget.close();
  });

  it('keeps the count in the file: a budget opened later sees what an earlier one spent', async () => {
    const path = tempFile();
    const clock = new ManualClock(START);
    const policy = createBudgetPolicy({ limit: 5, reserveShare: 0 });
    const first = createSqliteBudget({ path, clock, policy, timers: new ManualTimers(clock) });
    for (let i = 0; i < 3; i++) await first.acquire(P, { priority: 'background' });
    await first.reportRateLimited(P);
    await first.close();
    const second = createSqliteBudget({ path, clock, policy, timers: new ManualTimers(clock) });
    expect(await second.usage(P)).toMatchObject({
      used: 3,
      rateLimited: 1,
      lockedUntil: START + 60_000,
    });
    await second.close();
    const db = new Sqlite(path, { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM budget_waiters').get()).toEqual({ n: 0 });
    db.close();
  });

  it('drops the waiters of a process silent for longer than the heartbeat allows', async () => {
    const path = tempFile();
    const clock = new ManualClock(START);
    const policy = createBudgetPolicy({ limit: 1, reserveShare: 0 });
    const timers = new ManualTimers(clock);
    const live = createSqliteBudget({ path, clock, policy, timers });
    // A process that died: its timers never fire again, so it never steps again.
    const deadClock = new ManualClock(START);
    const dead = createSqliteBudget({
      path,
      clock: deadClock,
      policy,
      timers: new ManualTimers(deadClock),
    });
    await live.acquire(P, { priority: 'background' });
    void dead.acquire(P, { priority: 'interactive' }).catch(() => {});
    await nextMacrotask();
    const mine = live.acquire(P, { priority: 'background' });
    let served = false;
    void mine.then(() => {
      served = true;
    });
    expect((await live.usage(P)).waiting).toEqual({ interactive: 1, refresh: 0, background: 1 });
    await timers.advanceTo(START + 14_000);
    expect((await live.usage(P)).waiting).toEqual({ interactive: 1, refresh: 0, background: 1 });
    // Silent for 15 s: its waiter leaves the queue, and the next window's call is this one's.
    await timers.advanceTo(START + 15_001);
    expect((await live.usage(P)).waiting).toEqual({ interactive: 0, refresh: 0, background: 1 });
    await timers.advanceTo(START + 60_000);
    expect(served).toBe(true);
    await live.close();
    await dead.close();
  });
});
