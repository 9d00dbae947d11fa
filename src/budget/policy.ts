// The budget policy: how many calls each practice may spend per clock-aligned window.
import { BridgeError } from '../common/errors.ts';
import type { BudgetPolicy } from './port.ts';

/**
 * healow's documented limit per practice base URL and clock minute; going over locks the app out
 * for the rest of that minute.
 */
const HEALOW_CALLS_PER_MINUTE = 250;

/** 10 short of healow's 250, so that clock skew between us and healow cannot tip it over. */
export const DEFAULT_LIMIT = HEALOW_CALLS_PER_MINUTE - 10;

export const DEFAULT_WINDOW_MS = 60_000;

/**
 * The end of a window whose calls also count in the next, by default: 1 s of a clock minute, far
 * more than a request takes to reach healow (it counts by arrival; the 10 calls kept below
 * healow's 250 absorb the rare straggler and clock skew), and 1/20 of a shorter window. No
 * longer, since a live read there counts twice, and background work must not start there.
 */
export function defaultGuardMs(windowMs: number): number {
  return Math.min(1_000, Math.floor(windowMs / 20));
}

/**
 * The share of each window kept for live reads and refreshes by default: a quarter, so that a
 * person waiting on a read finds a call free even while syncs would take every call at once.
 */
export const DEFAULT_RESERVE_SHARE = 0.25;

/**
 * When live reads and refreshes took more than the reserve in the last window, the reserve grows
 * to this multiple of what they took: demand a window brings tends to come again in the next.
 */
export const RESERVE_GROWTH = 1.5;

export interface BudgetPolicyOptions {
  limit?: number;
  /**
   * The share (0 to less than 1) of each window's calls kept for interactive and refresh work; 0
   * turns the reserve off (priority then orders only the calls already waiting).
   */
  reserveShare?: number;
  windowMs?: number;
  /** Per-practice overrides, keyed by practice base URL. */
  limits?: Readonly<Record<string, number>>;
  /** See `BudgetPolicy.guardMs`; default `defaultGuardMs(windowMs)`. */
  guardMs?: number;
}

export function createBudgetPolicy({
  limit = DEFAULT_LIMIT,
  windowMs = DEFAULT_WINDOW_MS,
  limits = {},
  guardMs = defaultGuardMs(windowMs),
  reserveShare = DEFAULT_RESERVE_SHARE,
}: BudgetPolicyOptions = {}): BudgetPolicy {
  for (const [name, value] of [['limit', limit], ...Object.entries(limits)] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new BridgeError(
        'invalid_config',
        `budget limit for ${name} must be a positive integer`,
      );
    }
  }
  if (!Number.isInteger(windowMs) || windowMs < 1) {
    throw new BridgeError('invalid_config', 'budget windowMs must be a positive integer');
  }
  if (!Number.isInteger(guardMs) || guardMs < 0 || guardMs >= windowMs) {
    throw new BridgeError(
      'invalid_config',
      'budget guardMs must be an integer from 0 to less than windowMs',
    );
  }
  if (!Number.isFinite(reserveShare) || reserveShare < 0 || reserveShare >= 1) {
    throw new BridgeError('invalid_config', 'budget reserveShare must be from 0 to less than 1');
  }
  const overrides = new Map(Object.entries(limits));
  const limitFor = (practice: string) => overrides.get(practice) ?? limit;
  return {
    windowMs,
    guardMs,
    limitFor,
    reserveFor: (practice) => Math.floor(limitFor(practice) * reserveShare),
  };
}

/**
 * The calls of the current window kept for interactive and refresh work: the policy's share, or
 * more when they took more than that in the previous window (`priorityLast`).
 */
export function reserveOf(policy: BudgetPolicy, practice: string, priorityLast: number): number {
  const base = policy.reserveFor(practice);
  if (base === 0) return 0;
  return Math.min(
    policy.limitFor(practice),
    Math.max(base, Math.ceil(RESERVE_GROWTH * priorityLast)),
  );
}

/** What the reserve of one practice in one window is made of. */
export interface ReserveShape {
  limit: number;
  /** reserveOf(...) for the window. */
  reserve: number;
  windowMs: number;
  /** The guard: calls started in it count in the next window as well. */
  guardMs: number;
}

/**
 * The calls background work must leave free at `now` in the window starting at `windowStart`:
 * the reserve, shrinking in step with the time left in the window, so that live reads and
 * refreshes arriving at up to `reserve` a window find a call free at any moment, and what they
 * leave goes to background work as the window runs out. It reaches 0 before the guard begins
 * (`unkeptOf`): the reserve's unused calls go to background work where they count once, rather
 * than in the guard, where a call counts in the next window too (grant.ts).
 */
export function backgroundHeadroom(shape: ReserveShape, windowStart: number, now: number): number {
  const left = windowStart + shape.windowMs - now;
  if (shape.reserve === 0 || left <= 0) return 0;
  const kept = keptFor(shape, Math.min(left, shape.windowMs));
  return Math.min(shape.reserve, Math.ceil(kept));
}

/**
 * A live read may wait this long for the next window: a second of a minute. Calls for the reads
 * arriving closer to the window's end than this need not be kept.
 */
export const patienceOf = (windowMs: number): number => Math.floor(windowMs / 60);

/**
 * The end of a window where nothing is kept for live reads any more, so that background work
 * takes the reserve's unused calls before the guard, where each would count in two windows: a
 * millisecond more than the guard where the guard is a read's patience (healow's minute), a whole
 * patience more where a compressed window has a longer guard (a loaded machine, whose timers can
 * wake that late). A live read arriving there waits for the next window.
 */
export function unkeptOf(shape: Pick<ReserveShape, 'windowMs' | 'guardMs'>): number {
  const patience = patienceOf(shape.windowMs);
  if (shape.guardMs === 0) return patience;
  return Math.max(patience, shape.guardMs + (shape.guardMs > patience ? patience : 1));
}

/**
 * What to keep with `ms` left: the live reads expected from then until the window's unkept end
 * at the reserve's rate, plus one standard deviation (the square root of the mean) of such random
 * (Poisson) arrivals, since near the window's end a few calls more than the mean matter.
 */
export function keptFor(shape: ReserveShape, ms: number): number {
  const span = Math.max(0, ms - unkeptOf(shape));
  const expected = (shape.reserve * span) / shape.windowMs;
  return expected + Math.sqrt(expected);
}

/**
 * When a background call of `cost` fits beside the shrinking reserve, in the window starting at
 * `windowStart` with `used` calls spent: `now` if it fits already, the instant the headroom has
 * shrunk enough, or null when it cannot fit before the window ends.
 */
export function backgroundFitsAt(
  shape: ReserveShape,
  windowStart: number,
  used: number,
  cost: number,
  now: number,
): number | null {
  const room = shape.limit - used - cost;
  if (room < 0) return null;
  if (room >= backgroundHeadroom(shape, windowStart, now)) return now;
  const end = windowStart + shape.windowMs;
  // e + sqrt(e) <= room  <=>  sqrt(e) <= (sqrt(1 + 4 room) - 1) / 2; then the instant, checked
  // against the headroom itself so that rounding never wakes a waiter a millisecond early. The
  // headroom is 0 from the unkept end on, so every call that fits the limit fits by then.
  const root = (Math.sqrt(1 + 4 * room) - 1) / 2;
  const span = Math.floor((root * root * shape.windowMs) / shape.reserve);
  let at = Math.max(now, end - span - unkeptOf(shape));
  while (at < end && backgroundHeadroom(shape, windowStart, at) > room) at += 1;
  return at < end ? at : null;
}
