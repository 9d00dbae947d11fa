// The rules a shared budget store applies inside one atomic step (a SQLite transaction; the Redis
// adapter's Lua script mirrors them): roll the window, end a lock, record a 429, and grant the
// queued waiters of every process in one order: priority, then round-robin between lanes
// (connections), FIFO within a lane, with background work kept beside the reserve.
import { backgroundFitsAt, backgroundHeadroom, type ReserveShape, reserveOf } from './policy.ts';
import {
  type BudgetPolicy,
  type BudgetUsage,
  type Grant,
  PRIORITIES,
  type Priority,
} from './port.ts';

/** One practice's row in the shared store. */
export interface WindowState {
  /** floor(now / windowMs) of the window `used` counts. */
  window: number;
  used: number;
  /**
   * Calls started in this window's guard [end - guardMs, end). healow counts a call in the window
   * it arrives in, and a call reaches it within the guard: one started in the guard lands in
   * this window or in the next, never in both. Each of the two must have room for it wherever it
   * lands, so it counts in `used` here and starts the next window's `used`. That carry costs the
   * next window no more than waiting for it would (the call would count there alone), and it is
   * all the next window loses: it grants the rest of its limit. The reserve's unused calls go
   * to background work before the guard (policy.ts), so a window that syncs keep waiting on is
   * spent before its guard and carries nothing. A guard call answered before the window ends
   * arrived in it (`giveBackLanded`): it leaves `early`, and the next window does not keep it.
   */
  early: number;
  /**
   * The part of `used` carried from the previous window's guard whose calls may still arrive
   * here. A carried call found to have arrived in the previous window leaves `used` and this
   * count; `used` never drops below the calls granted in this window itself.
   */
  carried: number;
  lockedUntil: number | null;
  lockReason: string | null;
  rateLimited: number;
  /** Interactive and refresh calls granted in this window, and in the one before (the reserve). */
  priorityUsed: number;
  priorityLast: number;
  /** The store's sequence: waiter order and lane positions in the round-robin ring. */
  seq: number;
}

export interface QueuedWaiter {
  id: string;
  priority: Priority;
  lane: string;
  cost: number;
  /** Arrival order within the practice. */
  seq: number;
}

/** A lane of one priority with its waiters (FIFO by `seq`) and its place in the ring (`pos`). */
export interface Lane {
  priority: Priority;
  lane: string;
  pos: number;
  waiters: QueuedWaiter[];
}

export const windowOf = (policy: BudgetPolicy, time: number): number =>
  Math.floor(time / policy.windowMs);

export function newWindowState(policy: BudgetPolicy, now: number): WindowState {
  return {
    window: windowOf(policy, now),
    used: 0,
    early: 0,
    carried: 0,
    lockedUntil: null,
    lockReason: null,
    rateLimited: 0,
    priorityUsed: 0,
    priorityLast: 0,
    seq: 0,
  };
}

/** What usage() reports for one practice: its window's count, bounds and lock, and who waits. */
export function usageOf(
  policy: BudgetPolicy,
  practice: string,
  state: WindowState,
  waiting: Record<Priority, number>,
): BudgetUsage {
  return {
    practice,
    limit: policy.limitFor(practice),
    used: state.used,
    windowStart: state.window * policy.windowMs,
    windowEnd: (state.window + 1) * policy.windowMs,
    waiting,
    lockedUntil: state.lockedUntil,
    lockReason: state.lockReason,
    rateLimited: state.rateLimited,
  };
}

/** Moves the window and the lock forward to `now`; a clock stepping back changes nothing. */
export function rollForward(state: WindowState, policy: BudgetPolicy, now: number): void {
  const window = windowOf(policy, now);
  if (window > state.window) {
    // A call from the previous window's guard may still arrive in this one: it counts here too
    // (and only those: a call started before the guard arrives before the window ends).
    state.used = window === state.window + 1 ? state.early : 0;
    state.carried = state.used;
    state.early = 0;
    state.priorityLast = window === state.window + 1 ? state.priorityUsed : 0;
    state.priorityUsed = 0;
    state.window = window;
  }
  if (state.lockedUntil !== null && now >= state.lockedUntil) {
    state.lockedUntil = null;
    state.lockReason = null;
  }
}

/** Whether `now` is in the guard of the window `state` counts: its last `guardMs`. */
export const inGuardOf = (state: WindowState, policy: BudgetPolicy, now: number): boolean =>
  now >= (state.window + 1) * policy.windowMs - policy.guardMs;

/** The grant of a call of `priority` and `cost` made at `grantedAt`. */
export function grantOf(
  policy: BudgetPolicy,
  practice: string,
  call: { priority: Priority; cost: number },
  grantedAt: number,
): Grant {
  const window = windowOf(policy, grantedAt);
  return {
    practice,
    window,
    guard: grantedAt >= (window + 1) * policy.windowMs - policy.guardMs,
    cost: call.cost,
    priority: call.priority,
  };
}

/** A guard call that arrived upstream in the window it was granted in. */
export interface Landing {
  window: number;
  cost: number;
}

/**
 * The landing to record for a call answered at `answeredAt`, or undefined when there is none: a
 * call outside the guard counts in its window alone, and a guard call answered after its window
 * ended may have arrived in the next one. Our windows are healow's clock minutes (the guard
 * assumes as much), so an answer received before the window's end means an arrival within it.
 */
export function landingOf(
  policy: BudgetPolicy,
  grant: Grant,
  answeredAt: number,
): Landing | undefined {
  if (!grant.guard || !(answeredAt < (grant.window + 1) * policy.windowMs)) return undefined;
  return { window: grant.window, cost: grant.cost };
}

/**
 * Guard calls that arrived in the window they were granted in: the next window need not keep
 * them. Before that window begins they leave `early`; once it has begun they leave its `used`
 * as far as it still holds carried calls; once it has ended there is nothing to give back.
 */
export function giveBackLanded(state: WindowState, landings: readonly Landing[]): void {
  for (const { window, cost } of landings) {
    if (window === state.window) {
      state.early = Math.max(0, state.early - cost);
    } else if (window === state.window - 1) {
      const back = Math.min(cost, state.carried);
      state.carried -= back;
      state.used = Math.max(0, state.used - back);
    }
  }
}

/**
 * Calls granted and never sent, handed back to `window`'s count: a lease's unspent calls, or a
 * call whose work another process did meanwhile (`guard`: granted in the window's guard).
 */
export interface Release {
  priority: Priority;
  cost: number;
  window: number;
  guard?: boolean;
}

/**
 * Gives back calls granted and never sent: they leave the count of the window they were taken
 * in, and count nowhere once that window has ended; one from the guard arrives nowhere, so the
 * next window keeps no slot for it either. Leases are never taken in the guard.
 */
export function releaseLeased(state: WindowState, releases: readonly Release[]): void {
  for (const { priority, cost, window, guard } of releases) {
    if (guard) giveBackLanded(state, [{ window, cost }]);
    if (window !== state.window) continue;
    state.used = Math.max(0, state.used - cost);
    if (priority !== 'background') state.priorityUsed = Math.max(0, state.priorityUsed - cost);
  }
}

/**
 * An upstream 429: healow blocks the app for the rest of the clock minute, so the practice is
 * locked until the window ends, or for a longer Retry-After.
 */
export function recordRateLimited(
  state: WindowState,
  policy: BudgetPolicy,
  now: number,
  retryAfterMs?: number,
): void {
  const windowEnd = (state.window + 1) * policy.windowMs;
  const honoured = retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0;
  const until = Math.max(windowEnd, honoured ? now + retryAfterMs : 0);
  state.rateLimited += 1;
  if (state.lockedUntil === null || until >= state.lockedUntil) {
    state.lockedUntil = until;
    state.lockReason = honoured
      ? `upstream 429 at ${new Date(now).toISOString()} with Retry-After ${Math.ceil(retryAfterMs / 1000)} s`
      : `upstream 429 at ${new Date(now).toISOString()}: blocked until the window ends`;
  }
}

function shapeOf(state: WindowState, policy: BudgetPolicy, practice: string): ReserveShape {
  return {
    limit: policy.limitFor(practice),
    reserve: reserveOf(policy, practice, state.priorityLast),
    windowMs: policy.windowMs,
    guardMs: policy.guardMs,
  };
}

/** Whether `waiter` may start now: under the limit, and background beside the reserve. */
export function fits(
  state: WindowState,
  policy: BudgetPolicy,
  practice: string,
  waiter: Pick<QueuedWaiter, 'priority' | 'cost'>,
  now: number,
): boolean {
  const limit = policy.limitFor(practice);
  if (state.used + waiter.cost > limit) return false;
  if (waiter.priority !== 'background') return true;
  const headroom = backgroundHeadroom(
    shapeOf(state, policy, practice),
    state.window * policy.windowMs,
    now,
  );
  return state.used + waiter.cost <= limit - headroom;
}

/** The waiter served next: highest priority, the lane first in its ring, its oldest waiter. */
function headOf(lanes: readonly Lane[]): { lane: Lane; waiter: QueuedWaiter } | undefined {
  for (const priority of PRIORITIES) {
    let best: Lane | undefined;
    for (const lane of lanes) {
      if (lane.priority === priority && lane.waiters.length > 0 && (!best || lane.pos < best.pos))
        best = lane;
    }
    if (best) return { lane: best, waiter: best.waiters[0]! };
  }
  return undefined;
}

export interface GrantOutcome {
  granted: QueuedWaiter[];
  /** The waiter that did not fit, if any: strict order makes it block those behind it. */
  head: QueuedWaiter | undefined;
}

/**
 * Grants waiters in service order while they fit (after `rollForward`). Mutates `state` and
 * `lanes`: a served lane moves to the back of its ring (a new `pos`), its waiters shift.
 */
export function grantInOrder(
  state: WindowState,
  policy: BudgetPolicy,
  practice: string,
  lanes: Lane[],
  now: number,
): GrantOutcome {
  const granted: QueuedWaiter[] = [];
  if (state.lockedUntil !== null) return { granted, head: headOf(lanes)?.waiter };
  const inGuard = inGuardOf(state, policy, now);
  for (let next = headOf(lanes); next; next = headOf(lanes)) {
    // Strict order: a head waiter that does not fit blocks those behind it (no starvation).
    if (!fits(state, policy, practice, next.waiter, now)) return { granted, head: next.waiter };
    next.lane.waiters.shift();
    next.lane.pos = ++state.seq;
    state.used += next.waiter.cost;
    if (inGuard) state.early += next.waiter.cost;
    if (next.waiter.priority !== 'background') state.priorityUsed += next.waiter.cost;
    granted.push(next.waiter);
  }
  return { granted, head: undefined };
}

/**
 * When the blocked `head` may fit at the earliest: the lock's end, the reserve shrinking enough
 * for background work, or the next window; null when nothing waits.
 */
export function wakeAtOf(
  state: WindowState,
  policy: BudgetPolicy,
  practice: string,
  head: Pick<QueuedWaiter, 'priority' | 'cost'> | undefined,
  now: number,
): number | null {
  if (!head) return null;
  if (state.lockedUntil !== null) return state.lockedUntil;
  const windowStart = state.window * policy.windowMs;
  const windowEnd = windowStart + policy.windowMs;
  if (head.priority !== 'background') return windowEnd;
  const at = backgroundFitsAt(
    shapeOf(state, policy, practice),
    windowStart,
    state.used,
    head.cost,
    now,
  );
  return at !== null && at > now ? at : windowEnd;
}

/**
 * Until when no waiter of any process can be granted whatever happens meanwhile (a lock, or a
 * window spent to its limit), or null when a waiter leaving may let another in.
 */
export function blockedUntilOf(
  state: WindowState,
  policy: BudgetPolicy,
  practice: string,
): number | null {
  if (state.lockedUntil !== null) return state.lockedUntil;
  if (state.used >= policy.limitFor(practice)) return (state.window + 1) * policy.windowMs;
  return null;
}
