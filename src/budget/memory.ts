// The in-memory budget: one process's count of calls per practice and clock-aligned window,
// waiters ordered by FairQueue, woken by an injected timer at the next window start or when a
// 429 lock ends. Every entry point first re-evaluates against the clock, so a moved clock is
// seen even before a timer fires.

import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { realTimers, runAt, type Timers } from '../common/timers.ts';
import { FairQueue } from './fair-queue.ts';
import {
  fits,
  giveBackLanded,
  grantOf,
  inGuardOf,
  landingOf,
  newWindowState,
  recordRateLimited,
  releaseLeased,
  rollForward,
  usageOf,
  type WindowState,
  wakeAtOf,
} from './grant.ts';
import {
  type AcquireOptions,
  type Budget,
  type BudgetPolicy,
  type BudgetUsage,
  type Grant,
  PRIORITIES,
  type Priority,
} from './port.ts';
import { validateAcquire } from './shared.ts';

export interface MemoryBudgetDeps {
  clock: Clock;
  policy: BudgetPolicy;
  timers?: Timers;
}

interface Waiter {
  priority: Priority;
  lane: string;
  cost: number;
  enqueuedAt: number;
  resolve(grant: Grant): void;
  reject(error: BridgeError): void;
  /** Cancels the deadline timer and the abort listener. */
  cleanup(): void;
}

interface PracticeState extends WindowState {
  practice: string;
  queue: FairQueue<Waiter>;
  wake: { at: number; cancel(): void } | null;
}

/** Waiters without a connectionId share this lane (FIFO among themselves). */
const ANONYMOUS_LANE = '';

/** The budget_exhausted error of a waiter that gives up, with how long it waited. */
function exhausted(
  clock: Clock,
  practice: string,
  waiter: Waiter,
  why: string,
  cause?: unknown,
): BridgeError {
  const waitedMs = clock.now() - waiter.enqueuedAt;
  return new BridgeError(
    'budget_exhausted',
    `no call budget for practice ${practice}: waited ${waitedMs} ms, ${why}`,
    { details: { practice, priority: waiter.priority, waitedMs }, cause },
  );
}

/**
 * Serves queued waiters while the head fits (after `rollForward`), in strict order: a head that
 * does not fit blocks those behind it, so nothing starves. Nothing is served under a lock.
 */
function serveWhileFits(state: PracticeState, policy: BudgetPolicy, now: number): void {
  if (state.lockedUntil !== null) return;
  const inGuard = inGuardOf(state, policy, now);
  for (let head = state.queue.peek(); head; head = state.queue.peek()) {
    if (!fits(state, policy, state.practice, head, now)) return;
    state.queue.shift();
    state.used += head.cost;
    if (inGuard) state.early += head.cost;
    if (head.priority !== 'background') state.priorityUsed += head.cost;
    head.cleanup();
    head.resolve(grantOf(policy, state.practice, head, now));
  }
}

function practiceUsage(policy: BudgetPolicy, state: PracticeState): BudgetUsage {
  const waiting = Object.fromEntries(
    PRIORITIES.map((priority) => [priority, state.queue.count(priority)]),
  ) as Record<Priority, number>;
  return usageOf(policy, state.practice, state, waiting);
}

/** A waiter for `options`, `served` once resolved; its cleanup is set once it has timers. */
function newWaiter(
  clock: Clock,
  cost: number,
  options: AcquireOptions,
  resolve: (grant: Grant) => void,
  reject: (error: BridgeError) => void,
): Waiter & { served: boolean } {
  const waiter = {
    priority: options.priority,
    lane: options.connectionId ?? ANONYMOUS_LANE,
    cost,
    enqueuedAt: clock.now(),
    served: false,
    resolve: (grant: Grant) => {
      waiter.served = true;
      resolve(grant);
    },
    reject,
    cleanup: () => {},
  };
  return waiter;
}

export function createMemoryBudget({
  clock,
  policy,
  timers = realTimers,
}: MemoryBudgetDeps): Budget {
  const practices = new Map<string, PracticeState>();
  let closed = false;

  const at = (time: number, fn: () => void) => runAt(clock, timers, time, fn);

  function newState(practice: string): PracticeState {
    return {
      practice,
      ...newWindowState(policy, clock.now()),
      queue: new FairQueue(),
      wake: null,
    };
  }

  function stateOf(practice: string): PracticeState {
    let state = practices.get(practice);
    if (!state) {
      state = newState(practice);
      practices.set(practice, state);
    }
    return state;
  }

  /** Rolls the window and the lock forward to now, then hands out every slot it can. */
  function pump(state: PracticeState): void {
    const now = clock.now();
    rollForward(state, policy, now);
    serveWhileFits(state, policy, now);
    scheduleWake(state);
  }

  /** Pumps again when the head waiter may fit: the lock's end, the reserve shrinking, the window's end. */
  function scheduleWake(state: PracticeState): void {
    const wakeAt = wakeAtOf(state, policy, state.practice, state.queue.peek(), clock.now());
    if (state.wake?.at === wakeAt) return;
    state.wake?.cancel();
    state.wake = null;
    if (wakeAt === null) return;
    state.wake = {
      at: wakeAt,
      ...at(wakeAt, () => {
        state.wake = null;
        pump(state);
      }),
    };
  }

  /** Takes a waiter out of the queue and rejects it; a no-op if it was already served. */
  function giveUp(state: PracticeState, waiter: Waiter, why: string, cause?: unknown): void {
    if (!state.queue.remove(waiter)) return;
    waiter.cleanup();
    waiter.reject(exhausted(clock, state.practice, waiter, why, cause));
    scheduleWake(state);
  }

  /** A queued waiter gives up at its deadline (after a last pump) or when its signal aborts. */
  function watchDeadlineAndAbort(state: PracticeState, waiter: Waiter, options: AcquireOptions) {
    const { signal, deadline } = options;
    if (deadline !== undefined && deadline <= clock.now()) {
      giveUp(state, waiter, 'the deadline had passed');
      return;
    }
    // At the deadline, pump first: a slot freed at that very instant still counts.
    const deadlineTimer =
      deadline === undefined
        ? undefined
        : at(deadline, () => {
            pump(state);
            giveUp(state, waiter, 'the deadline passed');
          });
    const onAbort = () => giveUp(state, waiter, 'the caller aborted', signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    waiter.cleanup = () => {
      deadlineTimer?.cancel();
      signal?.removeEventListener('abort', onAbort);
    };
  }

  return {
    acquire(practice, options) {
      return new Promise<Grant>((resolve, reject) => {
        const cost = validateAcquire(policy, practice, options);
        const waiter = newWaiter(clock, cost, options, resolve, reject);
        if (closed) throw exhausted(clock, practice, waiter, 'the budget is closed');
        const { signal } = options;
        if (signal?.aborted) {
          throw exhausted(clock, practice, waiter, 'the caller aborted', signal.reason);
        }
        const state = stateOf(practice);
        state.queue.push(waiter);
        pump(state);
        if (!waiter.served) watchDeadlineAndAbort(state, waiter, options);
      });
    },

    async landed(grant, answeredAt) {
      const landing = landingOf(policy, grant, answeredAt);
      const state = landing && practices.get(grant.practice);
      if (!state) return;
      rollForward(state, policy, clock.now());
      giveBackLanded(state, [landing]);
      // A slot given back in the window under way may let a waiter in.
      pump(state);
    },

    async unsent(grant) {
      const state = practices.get(grant.practice);
      if (!state) return;
      rollForward(state, policy, clock.now());
      releaseLeased(state, [grant]);
      pump(state);
    },

    async reportRateLimited(practice, info = {}) {
      const state = stateOf(practice);
      pump(state);
      recordRateLimited(state, policy, clock.now(), info.retryAfterMs);
      scheduleWake(state);
    },

    async usage(practice) {
      // Reading a practice never seen does not make usageAll list it.
      const state = practices.get(practice) ?? newState(practice);
      pump(state);
      return practiceUsage(policy, state);
    },

    async usageAll() {
      const states = [...practices.values()].sort((a, b) => a.practice.localeCompare(b.practice));
      return states.map((state) => {
        pump(state);
        return practiceUsage(policy, state);
      });
    },

    async close() {
      closed = true;
      for (const state of practices.values()) {
        state.wake?.cancel();
        state.wake = null;
        for (const waiter of state.queue.drain()) {
          waiter.cleanup();
          waiter.reject(exhausted(clock, state.practice, waiter, 'the budget is closed'));
        }
      }
    },
  };
}
