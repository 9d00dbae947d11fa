// The budget port: how fhirbridge spends each practice's call allowance (healow: 250 calls per
// clock minute per base URL, counting /authorize, /token and FHIR calls). Adapters (memory now,
// Redis for scale-out) implement it and pass the same contract suite (contract.ts).

/** A user's live read comes before a token refresh, which comes before background sync. */
export type Priority = 'interactive' | 'refresh' | 'background';

/** Highest first: the order in which waiters are served. */
export const PRIORITIES: readonly Priority[] = ['interactive', 'refresh', 'background'];

export interface AcquireOptions {
  priority: Priority;
  /** Waiters of one priority are served round-robin by connection, FIFO within one. */
  connectionId?: string;
  /** Epoch ms: give up with `budget_exhausted` if no slot is free by then. */
  deadline?: number;
  signal?: AbortSignal;
  /** Calls this acquisition spends at once. Default 1. */
  cost?: number;
}

/**
 * A call the budget granted: plain data the caller hands back to `landed` once the call is
 * answered. `guard` says it was granted in the last `guardMs` of `window`, so the budget counts
 * it in that window and in the next one too, until told where it arrived.
 */
export interface Grant {
  practice: string;
  /** floor(grantedAt / windowMs): the window that counts the call. */
  window: number;
  guard: boolean;
  cost: number;
  priority: Priority;
}

export interface BudgetUsage {
  practice: string;
  limit: number;
  /** Calls spent in the current window. */
  used: number;
  windowStart: number;
  windowEnd: number;
  waiting: Record<Priority, number>;
  /** Epoch ms until which an upstream 429 blocks every call, or null. */
  lockedUntil: number | null;
  lockReason: string | null;
  /** Upstream 429s seen for this practice since start. */
  rateLimited: number;
}

export interface Budget {
  /**
   * Resolves once a call is spent for `practice`. Rejects with `BridgeError('budget_exhausted')`
   * when the deadline passes or the signal aborts before a slot is free, or on close.
   */
  acquire(practice: string, options: AcquireOptions): Promise<Grant>;
  /**
   * The granted call was answered (its response headers came back) at `answeredAt`. A guard
   * call answered before its window ended arrived upstream in that window, so the slot the next
   * window kept for it is given back: taken off what that window will start from, or off its
   * count once it has begun, and nothing once it has ended too. Call it once per grant, and
   * not for a call that got no answer (a network error, an abort): that one keeps the slot. A
   * no-op for a grant outside the guard; never rejects (a landing not recorded keeps the slot).
   */
  landed(grant: Grant, answeredAt: number): Promise<void>;
  /**
   * The granted call was not sent after all (another process did the work meanwhile): its slot
   * goes back to its window while that window lasts, and the next window keeps none for it.
   * Never rejects.
   */
  unsent(grant: Grant): Promise<void>;
  /**
   * An upstream 429: healow blocks the app for the rest of that clock minute, so lock the
   * practice until the window ends (or `Retry-After`, whichever is later) and count it.
   */
  reportRateLimited(practice: string, info?: { retryAfterMs?: number }): Promise<void>;
  usage(practice: string): Promise<BudgetUsage>;
  /** Every practice this budget has seen, sorted by practice. */
  usageAll(): Promise<BudgetUsage[]>;
  /** Rejects every waiter and clears every timer. */
  close(): Promise<void>;
}

export interface BudgetPolicy {
  /** Calls allowed per window for a practice (see policy.ts for the default of 240). */
  limitFor(practice: string): number;
  /**
   * Calls of each window kept for interactive and refresh work: background work may spend only
   * what is left beside a reserve that shrinks with the time left in the window (policy.ts).
   */
  reserveFor(practice: string): number;
  /** Window length; windows are clock-aligned: window = floor(now / windowMs). */
  windowMs: number;
  /**
   * A call started in the last `guardMs` of a window counts in the next window as well: healow
   * counts a call when it arrives, so one sent at 59.99 s may land in the next minute, on top of
   * that minute's full allowance (a 429 and a minute locked out).
   */
  guardMs: number;
}
