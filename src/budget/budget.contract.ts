// The contract every budget adapter passes (memory, SQLite, Redis): call `budgetContract` from
// the adapter's test file. Time is a ManualClock and timers are ManualTimers, so windows,
// deadlines and locks are tested without sleeping. An adapter whose backend several processes
// share runs it again with two budgets on one backend: callers alternate between them, usage is
// read from the first and 429s reported to the last, and every promise still holds.
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { isBridgeError } from '../common/errors.ts';
import { ManualTimers, nextMacrotask } from '../common/timers.ts';
import { type BudgetPolicyOptions, backgroundFitsAt, createBudgetPolicy } from './policy.ts';
import type { Budget, BudgetPolicy, Grant, Priority } from './port.ts';

export interface BudgetContractDeps {
  clock: ManualClock;
  timers: ManualTimers;
  policy: BudgetPolicy;
}

/** One backend for one test: every budget opened on it shares its counts and queue. */
export interface BudgetBackend {
  open(deps: BudgetContractDeps): Budget | Promise<Budget>;
  /** Waits until every budget opened here has acted on what just happened. */
  settle?(): Promise<void>;
  /** After the budgets are closed: drops what the test left in the backend. */
  close?(): Promise<void>;
}

export interface BudgetContractOptions {
  /** How many budgets share one backend in each run of the suite: memory [1], shared [1, 2]. */
  instances?: number[];
}

const MINUTE = 60_000;
/** A clock-minute boundary. */
const START = Date.UTC(2026, 0, 1, 12, 0, 0);
/** Practice base URLs are only keys here; nothing is ever fetched. */
const practiceUrl = (code: string) => `https://fhir4.healow.com/fhir/r4/${code}`;
const A = practiceUrl('AAAAAA');

type Outcome = {
  state: 'pending' | 'resolved' | 'rejected';
  error?: unknown;
  at?: number;
  grant?: Grant;
};

/**
 * Timers that let the budget act on what just happened before time moves: an adapter whose
 * store answers asynchronously sets its next timer only once that answer is in.
 */
class SettlingTimers extends ManualTimers {
  readonly #settle: () => Promise<void>;
  constructor(clock: ManualClock, settle: () => Promise<void>) {
    super(clock, settle);
    this.#settle = settle;
  }
  override async advance(ms: number): Promise<void> {
    await this.#settle();
    return super.advance(ms);
  }
}

export function budgetContract(
  name: string,
  makeBackend: () => BudgetBackend | Promise<BudgetBackend>,
  { instances = [1] }: BudgetContractOptions = {},
): void {
  for (const count of instances) contractFor(name, makeBackend, count);
}

function contractFor(
  name: string,
  makeBackend: () => BudgetBackend | Promise<BudgetBackend>,
  count: number,
): void {
  const label = count === 1 ? name : `${name}, ${count} budgets on one backend`;
  describe(`budget contract: ${label}`, () => {
    const closers: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
    });
    let backendSettle: (() => Promise<void>) | undefined;
    const settle = async () => {
      await nextMacrotask();
      if (backendSettle) await backendSettle();
      await nextMacrotask();
    };

    /**
     * In one window's batch, callers of several budgets learn of their grants at each budget's
     * own step, so only one budget promises the order within a batch; the batches are the same.
     */
    const inOrder = (labels: string[]) => (count === 1 ? labels : [...labels].sort());

    /** A budget with limit 3 per clock minute unless told otherwise, at a minute boundary. */
    async function setup(policy: BudgetPolicyOptions = {}) {
      const clock = new ManualClock(START);
      const timers = new SettlingTimers(clock, settle);
      const backend = await makeBackend();
      backendSettle = backend.settle?.bind(backend);
      const deps = {
        clock,
        timers,
        // No reserve unless a test is about it: the promises below are about order and counts.
        policy: createBudgetPolicy({ limit: 3, windowMs: MINUTE, reserveShare: 0, ...policy }),
      };
      const budgets: Budget[] = [];
      for (let i = 0; i < count; i++) budgets.push(await backend.open(deps));
      closers.push(async () => {
        await Promise.all(budgets.map((b) => b.close()));
        await backend.close?.();
      });
      let turn = 0;
      const first = budgets[0]!;
      const last = budgets[count - 1]!;
      const budget: Budget = {
        acquire: (practice, options) => budgets[turn++ % count]!.acquire(practice, options),
        landed: (grant, answeredAt) => last.landed(grant, answeredAt),
        unsent: (grant) => last.unsent(grant),
        reportRateLimited: (practice, info) => last.reportRateLimited(practice, info),
        usage: (practice) => first.usage(practice),
        usageAll: () => last.usageAll(),
        close: async () => {
          await Promise.all(budgets.map((b) => b.close()));
        },
      };
      /** Follows a promise without awaiting it; `at` is the clock when it settled. */
      const track = (promise: Promise<unknown>): Outcome => {
        const outcome: Outcome = { state: 'pending' };
        promise.then(
          (grant) =>
            Object.assign(outcome, {
              state: 'resolved',
              at: clock.now(),
              ...(grant ? { grant: grant as Grant } : {}),
            }),
          (error) => Object.assign(outcome, { state: 'rejected', error, at: clock.now() }),
        );
        return outcome;
      };
      const acquire = (priority: Priority = 'background', extra = {}, practice = A) =>
        track(budget.acquire(practice, { priority, ...extra }));
      /** Spends `n` calls now and checks they were granted at once. */
      const fill = async (n: number, practice = A) => {
        const calls = Array.from({ length: n }, () => acquire('background', {}, practice));
        await settle();
        expect(calls.map((c) => c.state)).toEqual(calls.map(() => 'resolved'));
      };
      return { clock, timers, budget, track, acquire, fill };
    }

    it('spends up to the limit at once, then makes work wait', async () => {
      const { budget, acquire, fill } = await setup();
      await fill(3);
      const fourth = acquire();
      await settle();
      expect(fourth.state).toBe('pending');
      const usage = await budget.usage(A);
      expect(usage).toMatchObject({ used: 3, limit: 3 });
      expect(usage.waiting).toEqual({ interactive: 0, refresh: 0, background: 1 });
    });

    it('waits for the next clock-aligned window, not a minute from the first call', async () => {
      const { clock, timers, acquire, fill } = await setup();
      clock.advance(30_000);
      await fill(3);
      const waiting = acquire();
      await timers.advanceTo(START + MINUTE - 1);
      expect(waiting.state).toBe('pending');
      await timers.advance(1);
      expect(waiting).toMatchObject({ state: 'resolved', at: START + MINUTE });
    });

    it('counts a call started in the guard at the end of a window in the next window too', async () => {
      const { budget, clock, timers, acquire } = await setup({ guardMs: 2_000 });
      clock.advance(MINUTE - 2_001);
      const before = acquire();
      await settle();
      clock.advance(1);
      // In the guard: started at once while both windows have room.
      const inGuard = [acquire(), acquire()];
      await settle();
      expect([before, ...inGuard].map((o) => o.state)).toEqual([
        'resolved',
        'resolved',
        'resolved',
      ]);
      const next = [acquire(), acquire()];
      await timers.advanceTo(START + MINUTE);
      // The two from the guard may arrive upstream in this window: one call of 3 is left.
      expect(next.map((o) => o.state)).toEqual(['resolved', 'pending']);
      expect((await budget.usage(A)).used).toBe(3);
      await timers.advanceTo(START + 2 * MINUTE);
      expect(next[1]).toMatchObject({ state: 'resolved', at: START + 2 * MINUTE });
    });

    it('gives the next window back the slot of a guard call answered before its window ended', async () => {
      const { budget, clock, timers, acquire } = await setup({ guardMs: 2_000 });
      const before = acquire();
      clock.advance(MINUTE - 2_000);
      const [a, b] = [acquire(), acquire()];
      await settle();
      expect(before.grant).toMatchObject({ practice: A, guard: false, cost: 1 });
      for (const call of [a, b]) {
        expect(call.grant).toMatchObject({ window: START / MINUTE, guard: true, cost: 1 });
      }
      // Answered before the window ended: it arrived there, so the next window keeps no slot.
      await budget.landed(a.grant!, START + MINUTE - 1);
      const next = [acquire(), acquire(), acquire()];
      await timers.advanceTo(START + MINUTE);
      // One guard call is carried: two calls of 3 are free.
      expect(next.map((o) => o.state)).toEqual(['resolved', 'resolved', 'pending']);
      expect((await budget.usage(A)).used).toBe(3);
      // Answered before the end too, reported once the next window began: its slot comes back now.
      await budget.landed(b.grant!, START + MINUTE - 1);
      await timers.advance(1_000);
      expect(next[2]).toMatchObject({ state: 'resolved', grant: { guard: false } });
      expect((await budget.usage(A)).used).toBe(3);
    });

    it('keeps the slot of a guard call answered late or outside the guard, and never gives back a call of the window itself', async () => {
      const { budget, clock, timers, acquire } = await setup({ guardMs: 2_000 });
      const before = acquire();
      clock.advance(MINUTE - 2_000);
      const [late, early] = [acquire(), acquire()];
      await settle();
      // A call outside the guard counts in its window alone: nothing to give back.
      await budget.landed(before.grant!, START + MINUTE - 1);
      // Answered once its window had ended: it may have arrived in the next one.
      await budget.landed(late.grant!, START + MINUTE);
      await timers.advanceTo(START + MINUTE);
      expect((await budget.usage(A)).used).toBe(2);
      const own = acquire();
      await settle();
      expect(own.state).toBe('resolved');
      await budget.landed(early.grant!, START + MINUTE - 1);
      expect((await budget.usage(A)).used).toBe(2);
      // However much is given back, the call granted in this window still counts.
      await budget.landed({ ...early.grant!, cost: 3 }, START + MINUTE - 1);
      expect((await budget.usage(A)).used).toBe(1);
      // A call of this window's guard is carried into the next; a landing two windows old is not.
      clock.advance(MINUTE - 2_000);
      const carried = acquire();
      await settle();
      expect(carried.grant?.guard).toBe(true);
      await timers.advanceTo(START + 2 * MINUTE);
      await budget.landed(early.grant!, START + MINUTE - 1);
      expect((await budget.usage(A)).used).toBe(1);
    });

    it('gives back the slot of a call granted and never sent, and the next window its carry', async () => {
      const { budget, clock, timers, acquire } = await setup({ guardMs: 2_000 });
      const first = acquire();
      await settle();
      await budget.unsent(first.grant!);
      expect((await budget.usage(A)).used).toBe(0);
      clock.advance(MINUTE - 2_000);
      const [a, b, c] = [acquire(), acquire(), acquire()];
      await settle();
      expect([a, b, c].map((o) => o.state)).toEqual(['resolved', 'resolved', 'resolved']);
      // Not sent within its window: the slot is free again there, and nothing is carried for it.
      await budget.unsent(a.grant!);
      expect((await budget.usage(A)).used).toBe(2);
      await timers.advanceTo(START + MINUTE);
      expect((await budget.usage(A)).used).toBe(2);
      // Not sent, found once the next window began: only the carry comes back.
      await budget.unsent(b.grant!);
      expect((await budget.usage(A)).used).toBe(1);
    });

    it('never spends more than the limit in a window while work waits', async () => {
      const { timers, acquire, fill } = await setup();
      await fill(3);
      const queued = Array.from({ length: 7 }, () => acquire());
      await timers.advance(4 * MINUTE);
      const perWindow = new Map<number, number>();
      for (const outcome of queued) {
        expect(outcome.state).toBe('resolved');
        const window = Math.floor(outcome.at! / MINUTE);
        perWindow.set(window, (perWindow.get(window) ?? 0) + 1);
      }
      expect([...perWindow.values()]).toEqual([3, 3, 1]);
    });

    it('serves interactive before refresh before background', async () => {
      const { budget, timers, track, fill } = await setup();
      await fill(3);
      const order: string[] = [];
      const queue = (label: string, priority: Priority) =>
        track(budget.acquire(A, { priority }).then(() => order.push(label)));
      queue('bg1', 'background');
      queue('refresh1', 'refresh');
      queue('live1', 'interactive');
      queue('bg2', 'background');
      queue('live2', 'interactive');
      await timers.advance(MINUTE);
      expect(inOrder(order)).toEqual(inOrder(['live1', 'live2', 'refresh1']));
      await timers.advance(MINUTE);
      expect(inOrder(order.slice(3))).toEqual(inOrder(['bg1', 'bg2']));
    });

    it('shares a priority round-robin between connections, FIFO within one', async () => {
      const { budget, timers, track, fill } = await setup();
      await fill(3);
      const order: string[] = [];
      const queue = (label: string, connectionId: string) =>
        track(
          budget.acquire(A, { priority: 'background', connectionId }).then(() => order.push(label)),
        );
      // One at a time: FIFO is the order in which calls reach the shared queue.
      for (let i = 0; i < 10; i++) {
        queue(`busy${i}`, 'busy');
        await settle();
      }
      queue('quiet0', 'quiet');
      await settle();
      queue('quiet1', 'quiet');
      await timers.advance(MINUTE);
      expect(inOrder(order)).toEqual(inOrder(['busy0', 'quiet0', 'busy1']));
      await timers.advance(MINUTE);
      expect(inOrder(order.slice(3))).toEqual(inOrder(['quiet1', 'busy2', 'busy3']));
      await timers.advance(3 * MINUTE);
      const busy = order.filter((label) => label.startsWith('busy'));
      expect(inOrder(busy)).toEqual(inOrder(Array.from({ length: 10 }, (_, i) => `busy${i}`)));
    });

    it('keeps a reserve for live reads and refreshes that shrinks as the window runs out', async () => {
      // 10 a window, half of it kept: background may spend 5 at once, then one more each time
      // the reserve has shrunk enough, all before the guard (the last second), never in it.
      const { timers, acquire } = await setup({ limit: 10, reserveShare: 0.5 });
      const syncs = Array.from({ length: 10 }, (_, i) =>
        acquire('background', { connectionId: `c${i % 2}` }),
      );
      await settle();
      expect(syncs.filter((o) => o.state === 'resolved')).toHaveLength(5);
      const live = acquire('interactive');
      const refresh = acquire('refresh');
      await settle();
      expect([live.state, refresh.state]).toEqual(['resolved', 'resolved']);
      await timers.advanceTo(START + MINUTE);
      const times = syncs.map((o) => o.at!).sort((a, b) => a - b);
      expect(times.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => START));
      const shrinking = times.slice(5, 8);
      expect(new Set(shrinking).size).toBe(3);
      for (const at of shrinking) {
        expect(at).toBeGreaterThan(START);
        expect(at).toBeLessThanOrEqual(START + MINUTE - 1_000);
      }
      // The window was spent to its limit; the rest waited for the next.
      expect(times.slice(8)).toEqual([START + MINUTE, START + MINUTE]);
    });

    it('releases the reserve to background work at the instants policy.ts names, all before a long guard', async () => {
      // A guard of 10 s, longer than a read's patience (1 s of the minute): the last kept call
      // goes a patience before it, so that a late timer still grants it where it counts once.
      const { timers, acquire } = await setup({ limit: 10, reserveShare: 0.5, guardMs: 10_000 });
      const syncs = Array.from({ length: 10 }, () => acquire('background'));
      await timers.advanceTo(START + MINUTE - 1);
      const shape = { limit: 10, reserve: 5, windowMs: MINUTE, guardMs: 10_000 };
      const expected = [5, 6, 7, 8, 9].map((used) =>
        backgroundFitsAt(shape, START, used, 1, START),
      );
      expect(expected.at(-1)).toBe(START + MINUTE - 11_000);
      const times = syncs.map((o) => o.at!).sort((a, b) => a - b);
      expect(times).toEqual([...Array.from({ length: 5 }, () => START), ...expected]);
    });

    it('lets live reads take every call of the window the reserve does not cover', async () => {
      const { acquire, fill } = await setup({ limit: 10, reserveShare: 0.5 });
      await fill(5);
      const waitingSync = acquire('background');
      const live = Array.from({ length: 5 }, () => acquire('interactive'));
      await settle();
      expect(live.map((o) => o.state)).toEqual(live.map(() => 'resolved'));
      expect(waitingSync.state).toBe('pending');
    });

    it('rejects with budget_exhausted when the deadline passes first', async () => {
      const { budget, clock, timers, acquire, fill } = await setup();
      clock.advance(20_000);
      await fill(3);
      const late = acquire('interactive', { deadline: clock.now() + 10_000 });
      await timers.advance(9_999);
      expect(late.state).toBe('pending');
      await timers.advance(1);
      expect(late.state).toBe('rejected');
      expect(isBridgeError(late.error, 'budget_exhausted')).toBe(true);
      const message = (late.error as Error).message;
      expect(message).toContain(A);
      expect(message).toContain('10000 ms');
      expect((await budget.usage(A)).waiting.interactive).toBe(0);
      // The one that gave up spent nothing: the next window still has all its calls.
      const next = Array.from({ length: 3 }, () => acquire());
      await timers.advanceTo(START + MINUTE);
      expect(next.map((o) => o.state)).toEqual(['resolved', 'resolved', 'resolved']);
    });

    it('serves a waiter whose deadline falls after the next window start', async () => {
      const { timers, acquire, fill } = await setup();
      await fill(3);
      const patient = acquire('refresh', { deadline: START + MINUTE + 5_000 });
      await timers.advance(MINUTE);
      expect(patient).toMatchObject({ state: 'resolved', at: START + MINUTE });
      await timers.advance(10_000);
      expect(patient.state).toBe('resolved');
    });

    it('rejects at once a deadline already past when no slot is free', async () => {
      const { clock, acquire, fill } = await setup();
      const early = acquire('interactive', { deadline: clock.now() - 1 });
      await settle();
      expect(early.state).toBe('resolved');
      await fill(2);
      const late = acquire('interactive', { deadline: clock.now() });
      await settle();
      expect(late.state).toBe('rejected');
      expect(isBridgeError(late.error, 'budget_exhausted')).toBe(true);
    });

    it('rejects with budget_exhausted when the signal aborts, spending nothing', async () => {
      const { budget, timers, acquire, fill } = await setup();
      await fill(3);
      const controller = new AbortController();
      const aborted = acquire('interactive', { signal: controller.signal });
      const after = acquire('background');
      await settle();
      controller.abort(new Error('client went away'));
      await settle();
      expect(aborted.state).toBe('rejected');
      expect(isBridgeError(aborted.error, 'budget_exhausted')).toBe(true);
      expect((await budget.usage(A)).waiting).toEqual({
        interactive: 0,
        refresh: 0,
        background: 1,
      });
      await timers.advance(MINUTE);
      expect(after.state).toBe('resolved');
      expect((await budget.usage(A)).used).toBe(1);

      const already = acquire('interactive', { signal: AbortSignal.abort() });
      await settle();
      expect(already.state).toBe('rejected');
      expect(isBridgeError(already.error, 'budget_exhausted')).toBe(true);
      expect((await budget.usage(A)).used).toBe(1);
    });

    it('locks a practice after a 429 until its window ends, for every priority', async () => {
      const { budget, clock, timers, acquire, fill } = await setup();
      clock.advance(20_000);
      await fill(1);
      await budget.reportRateLimited(A);
      const usage = await budget.usage(A);
      expect(usage).toMatchObject({ used: 1, lockedUntil: START + MINUTE, rateLimited: 1 });
      expect(usage.lockReason).toMatch(/429/);
      const live = acquire('interactive');
      await timers.advanceTo(START + MINUTE - 1);
      expect(live.state).toBe('pending');
      await timers.advance(1);
      expect(live).toMatchObject({ state: 'resolved', at: START + MINUTE });
      expect(await budget.usage(A)).toMatchObject({
        used: 1,
        lockedUntil: null,
        lockReason: null,
        rateLimited: 1,
      });
    });

    it('honours a Retry-After longer than the window, and ignores a shorter one', async () => {
      const { budget, clock, timers, acquire } = await setup();
      clock.advance(20_000);
      await budget.reportRateLimited(A, { retryAfterMs: 90_000 });
      expect((await budget.usage(A)).lockedUntil).toBe(START + 110_000);
      const waiting = acquire('interactive');
      await timers.advanceTo(START + MINUTE);
      expect(waiting.state).toBe('pending');
      await timers.advanceTo(START + 110_000 - 1);
      expect(waiting.state).toBe('pending');
      await timers.advance(1);
      expect(waiting).toMatchObject({ state: 'resolved', at: START + 110_000 });

      await budget.reportRateLimited(A, { retryAfterMs: 5_000 });
      expect(await budget.usage(A)).toMatchObject({
        lockedUntil: START + 2 * MINUTE,
        rateLimited: 2,
      });
    });

    it('reports usage: limit, used, window, waiting per priority', async () => {
      const { budget, clock, timers, acquire } = await setup();
      clock.advance(45_000);
      expect(await budget.usage(A)).toEqual({
        practice: A,
        limit: 3,
        used: 0,
        windowStart: START,
        windowEnd: START + MINUTE,
        waiting: { interactive: 0, refresh: 0, background: 0 },
        lockedUntil: null,
        lockReason: null,
        rateLimited: 0,
      });
      acquire('background', { cost: 2 });
      acquire('refresh', { cost: 2, connectionId: 'c1' });
      acquire('interactive', { connectionId: 'c2' });
      acquire('background', { connectionId: 'c2' });
      await settle();
      expect(await budget.usage(A)).toMatchObject({
        used: 3,
        waiting: { interactive: 0, refresh: 1, background: 1 },
      });
      await timers.advance(15_000);
      expect(await budget.usage(A)).toMatchObject({
        used: 3,
        windowStart: START + MINUTE,
        windowEnd: START + 2 * MINUTE,
        waiting: { interactive: 0, refresh: 0, background: 0 },
      });
    });

    it('makes a call that costs more than is left wait, and refuses one above the limit', async () => {
      const { budget, timers, acquire, fill } = await setup();
      await fill(2);
      const pair = acquire('interactive', { cost: 2 });
      await settle();
      expect(pair.state).toBe('pending');
      await timers.advance(MINUTE);
      expect(pair.state).toBe('resolved');
      expect((await budget.usage(A)).used).toBe(2);
      for (const cost of [4, 0, 1.5]) {
        const wrong = acquire('interactive', { cost });
        await settle();
        expect(isBridgeError(wrong.error, 'invalid_request')).toBe(true);
      }
      const unknown = acquire('urgent' as Priority);
      await settle();
      expect(isBridgeError(unknown.error, 'invalid_request')).toBe(true);
    });

    it('keeps each practice to its own limit and its own lock', async () => {
      const practices = ['P1', 'P2', 'P3', 'P4', 'P5'].map(practiceUrl);
      const { budget, timers, acquire, fill } = await setup({
        limits: { [practiceUrl('P5')]: 5 },
      });
      for (const practice of practices.slice(0, 4)) await fill(3, practice);
      await fill(5, practiceUrl('P5'));
      const overs = practices.map((practice) => acquire('background', {}, practice));
      await settle();
      expect(overs.map((o) => o.state)).toEqual(practices.map(() => 'pending'));
      const all = await budget.usageAll();
      expect(all.map((u) => [u.practice, u.used, u.limit])).toEqual(
        practices.map((p, i) => [p, i === 4 ? 5 : 3, i === 4 ? 5 : 3]),
      );

      await timers.advance(MINUTE);
      await budget.reportRateLimited(practiceUrl('P1'));
      const locked = acquire('interactive', {}, practiceUrl('P1'));
      const free = acquire('interactive', {}, practiceUrl('P2'));
      await settle();
      expect(locked.state).toBe('pending');
      expect(free.state).toBe('resolved');
      expect((await budget.usage(practiceUrl('P2'))).lockedUntil).toBeNull();
    });

    it('close rejects every waiter and clears its timers', async () => {
      const { budget, timers, acquire, fill } = await setup();
      await fill(3);
      await budget.reportRateLimited(practiceUrl('OTHER'));
      const waiters = [
        acquire('interactive', { deadline: START + 5 * MINUTE }),
        acquire('background', { connectionId: 'c1' }),
        acquire('refresh', {}, practiceUrl('OTHER')),
      ];
      await settle();
      expect(waiters[2]!.state).toBe('pending');
      await budget.close();
      await settle();
      for (const waiter of waiters) {
        expect(waiter.state).toBe('rejected');
        expect(isBridgeError(waiter.error, 'budget_exhausted')).toBe(true);
      }
      expect(timers.pending).toBe(0);
      const afterClose = acquire('interactive');
      await settle();
      expect(isBridgeError(afterClose.error, 'budget_exhausted')).toBe(true);
    });
  });
}
