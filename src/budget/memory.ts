// The in-memory budget: one process's count of calls per practice and clock-aligned window,
// waiters ordered by FairQueue, woken by an injected timer at the next window start or when a
// 429 lock ends. Every entry point first re-evaluates against the clock, so a moved clock is
// seen even before a timer fires.

import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { FairQueue } from './fair-queue.ts';
import {
  fits,
  newWindowState,
  recordRateLimited,
  rollForward,
  type WindowState,
  wakeAtOf,
} from './grant.ts';
import {
  type AcquireOptions,
  type Budget,
  type BudgetPolicy,
  type BudgetUsage,
  PRIORITIES,
  type Priority,
} from './port.ts';
import { realTimers, runAt, type Timers } from './timers.ts';

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
  resolve(): void;
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
    if (state.lockedUntil === null) {
      const inGuard = now >= (state.window + 1) * policy.windowMs - policy.guardMs;
      // Strict order: a head waiter that does not fit blocks those behind it (no starvation).
      for (let head = state.queue.peek(); head; head = state.queue.peek()) {
        if (!fits(state, policy, state.practice, head, now)) break;
        state.queue.shift();
        state.used += head.cost;
        if (inGuard) state.early += head.cost;
        if (head.priority !== 'background') state.priorityUsed += head.cost;
        head.cleanup();
        head.resolve();
      }
    }
    scheduleWake(state);
  }

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

  function exhausted(practice: string, waiter: Waiter, why: string, cause?: unknown): BridgeError {
    const waitedMs = clock.now() - waiter.enqueuedAt;
    return new BridgeError(
      'budget_exhausted',
      `no call budget for practice ${practice}: waited ${waitedMs} ms, ${why}`,
      { details: { practice, priority: waiter.priority, waitedMs }, cause },
    );
  }

  /** Takes a waiter out of the queue and rejects it; a no-op if it was already served. */
  function giveUp(state: PracticeState, waiter: Waiter, why: string, cause?: unknown): void {
    if (!state.queue.remove(waiter)) return;
    waiter.cleanup();
    waiter.reject(exhausted(state.practice, waiter, why, cause));
    scheduleWake(state);
  }

  function validate(practice: string, options: AcquireOptions): number {
    const cost = options.cost ?? 1;
    if (!PRIORITIES.includes(options.priority)) {
      throw new BridgeError('invalid_request', `unknown budget priority "${options.priority}"`);
    }
    const limit = policy.limitFor(practice);
    if (!Number.isInteger(cost) || cost < 1 || cost > limit) {
      throw new BridgeError(
        'invalid_request',
        `budget cost must be an integer from 1 to ${limit} for practice ${practice}`,
      );
    }
    return cost;
  }

  function usageOf(state: PracticeState): BudgetUsage {
    const waiting = Object.fromEntries(
      PRIORITIES.map((priority) => [priority, state.queue.count(priority)]),
    ) as Record<Priority, number>;
    return {
      practice: state.practice,
      limit: policy.limitFor(state.practice),
      used: state.used,
      windowStart: state.window * policy.windowMs,
      windowEnd: (state.window + 1) * policy.windowMs,
      waiting,
      lockedUntil: state.lockedUntil,
      lockReason: state.lockReason,
      rateLimited: state.rateLimited,
    };
  }

  return {
    acquire(practice, options) {
      return new Promise<void>((resolve, reject) => {
        const cost = validate(practice, options);
        let served = false;
        const waiter: Waiter = {
          priority: options.priority,
          lane: options.connectionId ?? ANONYMOUS_LANE,
          cost,
          enqueuedAt: clock.now(),
          resolve: () => {
            served = true;
            resolve();
          },
          reject,
          cleanup: () => {},
        };
        if (closed) throw exhausted(practice, waiter, 'the budget is closed');
        const { signal, deadline } = options;
        if (signal?.aborted) throw exhausted(practice, waiter, 'the caller aborted', signal.reason);

        const state = stateOf(practice);
        state.queue.push(waiter);
        pump(state);
        if (served) return;

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
      });
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
      return usageOf(state);
    },

    async usageAll() {
      const states = [...practices.values()].sort((a, b) => a.practice.localeCompare(b.practice));
      return states.map((state) => {
        pump(state);
        return usageOf(state);
      });
    },

    async close() {
      closed = true;
      for (const state of practices.values()) {
        state.wake?.cancel();
        state.wake = null;
        for (const waiter of state.queue.drain()) {
          waiter.cleanup();
          waiter.reject(exhausted(state.practice, waiter, 'the budget is closed'));
        }
      }
    },
  };
}
