// A budget kept in a store that several processes share (the SQLite file, Redis). Each process
// queues its callers locally and registers them in the store; one atomic step at a time (per
// practice) adds and removes this process's waiters and grants, in the one order of grant.ts,
// every waiter of every process that fits. A waiter granted by another process's step learns of
// it at this process's next step: see `scheduleWake` for when that runs.
//
// A steady stream of calls at a practice whose window has plenty of room left does not take a
// store step per call: the step that grants one call also leases a block of further calls of the
// same priority (`leaseSizeOf`), which this process hands out from memory for a short slice and
// then gives back unspent (`release`). The store counts a leased call as spent from the moment it
// is leased, so the calls of all processes together never pass the limit; the trade is that
// another process cannot have this process's unspent leased calls until the slice ends, which is
// why leases are taken only while the room left is many times their size and nobody waits.
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { randomId } from '../common/random.ts';
import { realTimers, runAt, type Timers } from '../common/timers.ts';
import { grantOf, type Landing, landingOf, type Release, windowOf } from './grant.ts';
import {
  type AcquireOptions,
  type Budget,
  type BudgetPolicy,
  type BudgetUsage,
  type Grant,
  PRIORITIES,
  type Priority,
} from './port.ts';

/** A waiter as the store keeps it; `id` is unique across processes. */
export interface WaiterRecord {
  id: string;
  priority: Priority;
  lane: string;
  cost: number;
}

export interface StepInput {
  practice: string;
  /** The process (budget instance) taking the step: its waiters' owner. */
  owner: string;
  now: number;
  /** New waiters, or ones the store lost; adding a waiter already there changes nothing. */
  add: WaiterRecord[];
  /** Waiters giving up: taken out unless granted already (then they come back as granted). */
  remove: string[];
  /** Upstream 429s to record, each with its Retry-After if any. */
  rateLimited: Array<{ retryAfterMs?: number | undefined }>;
  /** Leased calls this owner did not spend, given back (grant.ts `releaseLeased`). */
  release?: Release[];
  /** Guard calls of this owner that arrived in their own window (grant.ts `giveBackLanded`). */
  landed?: Landing[];
}

export interface StepOutput {
  /**
   * This owner's waiters at the practice granted by now (by this step or another's), each with
   * the store's time of its grant: the window and guard it was granted in.
   */
  granted: Array<{ id: string; grantedAt: number }>;
  /** The waiters of `remove` taken out before being granted. */
  removed: string[];
  /** This owner's waiters still queued at the practice. */
  queued: number;
  usage: BudgetUsage;
  /** When the first waiter left queued may fit, at the earliest; null when none waits. */
  wakeAt: number | null;
  /** Until when nothing can be granted whatever happens (a lock, a spent window), or null. */
  blockedUntil: number | null;
}

/** The shared store's side of a budget: one atomic step, and a listing. */
export interface BudgetStore {
  step(input: StepInput): Promise<StepOutput>;
  /** Every practice in the store, sorted, as seen at `now`. */
  usageAll(now: number): Promise<BudgetUsage[]>;
  close(): Promise<void>;
}

export interface SharedBudgetDeps {
  clock: Clock;
  policy: BudgetPolicy;
  store: BudgetStore;
  timers?: Timers;
  /** Jitter for the polls; Math.random by default. */
  random?: () => number;
  /**
   * While a slot may come free at any moment (the window is not spent), how often this process
   * looks for grants made on its behalf: a waiter of another process giving up lets the next
   * in line in, and only a step of ours tells us so.
   */
  pollMs?: number;
  /**
   * The longest this process sleeps with waiters queued, so that other processes see it alive
   * and keep its waiters' places (the store drops the waiters of an owner silent for longer).
   */
  heartbeatMs?: number;
  /** How long a lease of calls lasts before its unspent calls go back; 0 takes no leases. */
  leaseMs?: number;
}

export const DEFAULT_POLL_MS = 200;
export const DEFAULT_HEARTBEAT_MS = 2_000;
/** An owner not heard from for this long is gone: its waiters leave the queue. */
export const OWNER_STALE_MS = 15_000;
export const DEFAULT_LEASE_MS = 200;
/** The most calls one lease takes. */
export const LEASE_MAX = 256;
/** A lease takes at most this share of the calls left in the window (1/16). */
const LEASE_ROOM_DIVISOR = 16;
/**
 * Leases only where a window allows this many calls or more: there calls come by the hundred a
 * second and a store step each costs. At healow's 240 a minute a step per call costs nothing,
 * while a lease handed back late (a timer held up past the window's end) would lose its calls
 * from a window that has few.
 */
export const LEASE_MIN_LIMIT = 1_000;

interface LocalWaiter {
  record: WaiterRecord;
  enqueuedAt: number;
  resolve(grant: Grant): void;
  reject(error: BridgeError): void;
  cleanup(): void;
  /** Why it gives up, once it does. */
  giveUp?: { why: string; cause?: unknown };
}

/** Calls of one priority granted ahead to this process, spent from memory until `until`. */
interface Lease {
  window: number;
  remaining: number;
  until: number;
  end: { cancel(): void };
}

/** Acquisitions of one priority counted per lease slice: the size of the next lease. */
interface Demand {
  sliceStart: number;
  count: number;
  previous: number;
}

interface Local {
  practice: string;
  leases: Map<Priority, Lease>;
  /** Priorities whose lease request is in a step now. */
  leasing: Set<Priority>;
  demand: Map<Priority, Demand>;
  toRelease: Release[];
  toLand: Landing[];
  waiters: Map<string, LocalWaiter>;
  toAdd: WaiterRecord[];
  toRemove: Set<string>;
  rateLimits: Array<{ retryAfterMs?: number | undefined }>;
  running: Promise<void> | null;
  again: boolean;
  wake: { at: number; cancel(): void } | null;
  usage: BudgetUsage | null;
}

const ANONYMOUS_LANE = '';

export function validateAcquire(
  policy: BudgetPolicy,
  practice: string,
  options: AcquireOptions,
): number {
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

export function createSharedBudget({
  clock,
  policy,
  store,
  timers = realTimers,
  random = Math.random,
  pollMs = DEFAULT_POLL_MS,
  heartbeatMs = DEFAULT_HEARTBEAT_MS,
  leaseMs = DEFAULT_LEASE_MS,
}: SharedBudgetDeps): Budget & { settled(): Promise<void> } {
  const owner = randomId('bo', 9);
  const locals = new Map<string, Local>();
  let seq = 0;
  let closed = false;

  const at = (time: number, fn: () => void) => runAt(clock, timers, time, fn);

  function localOf(practice: string): Local {
    let local = locals.get(practice);
    if (!local) {
      local = {
        practice,
        leases: new Map(),
        leasing: new Set(),
        demand: new Map(),
        toRelease: [],
        toLand: [],
        waiters: new Map(),
        toAdd: [],
        toRemove: new Set(),
        rateLimits: [],
        running: null,
        again: false,
        wake: null,
        usage: null,
      };
      locals.set(practice, local);
    }
    return local;
  }

  function exhausted(practice: string, waiter: LocalWaiter, why: string, cause?: unknown) {
    const waitedMs = clock.now() - waiter.enqueuedAt;
    return new BridgeError(
      'budget_exhausted',
      `no call budget for practice ${practice}: waited ${waitedMs} ms, ${why}`,
      { details: { practice, priority: waiter.record.priority, waitedMs }, cause },
    );
  }

  /** Steps one at a time per practice; a request during a step runs one more after it. */
  function kick(local: Local): Promise<void> {
    if (local.running) {
      local.again = true;
      return local.running;
    }
    local.running = (async () => {
      try {
        do {
          local.again = false;
          await stepOnce(local);
        } while (local.again && !closed);
      } finally {
        local.running = null;
      }
    })();
    return local.running;
  }

  async function stepOnce(local: Local): Promise<void> {
    const add = local.toAdd.splice(0);
    const remove = [...local.toRemove];
    local.toRemove.clear();
    const rateLimited = local.rateLimits.splice(0);
    const release = local.toRelease.splice(0);
    const landed = local.toLand.splice(0);
    let out: StepOutput;
    try {
      out = await store.step({
        practice: local.practice,
        owner,
        now: clock.now(),
        add,
        remove,
        rateLimited,
        ...(release.length > 0 ? { release } : {}),
        ...(landed.length > 0 ? { landed } : {}),
      });
    } catch (error) {
      // The store could not be reached: every waiter of this step's practice fails rather than
      // hang, and the work they were for retries as after any failed call.
      for (const [id, waiter] of local.waiters) {
        local.waiters.delete(id);
        waiter.cleanup();
        waiter.reject(exhausted(local.practice, waiter, 'the budget store failed', error));
      }
      local.toAdd.length = 0;
      local.toRemove.clear();
      scheduleWake(local, null);
      throw error;
    }
    local.usage = out.usage;
    for (const { id, grantedAt } of out.granted) {
      const waiter = local.waiters.get(id);
      if (!waiter) continue;
      local.waiters.delete(id);
      waiter.cleanup();
      waiter.resolve(grantOf(policy, local.practice, waiter.record, grantedAt));
    }
    for (const id of remove) {
      const waiter = local.waiters.get(id);
      if (!waiter) continue;
      // Removed, or not in the store at all: either way it was never granted.
      local.waiters.delete(id);
      waiter.cleanup();
      waiter.reject(
        exhausted(local.practice, waiter, waiter.giveUp?.why ?? 'gave up', waiter.giveUp?.cause),
      );
    }
    // Fewer queued than this process keeps: the store dropped some (this process was silent
    // longer than OWNER_STALE_MS). Adding again is harmless for those still there.
    const pending = [...local.waiters.values()].filter((w) => !local.toRemove.has(w.record.id));
    if (out.queued < pending.length - local.toAdd.length) {
      const queuedIds = new Set(local.toAdd.map((r) => r.id));
      for (const waiter of pending) {
        if (!queuedIds.has(waiter.record.id)) local.toAdd.push(waiter.record);
      }
      local.again = true;
    }
    scheduleWake(local, out);
  }

  /**
   * When to step again while waiters remain. A lock or a spent window: at its end, when every
   * process steps again and the first to do so grants the whole window's worth in order, for
   * all of them. Otherwise a slot may come free when a waiter of another process gives up, and
   * only polling shows it here: a short poll, jittered so that processes do not step in
   * lockstep, and never past the instant the head waiter may fit (the reserve shrinking, the
   * window's end). Never longer than the heartbeat either, so this process keeps its place.
   */
  function scheduleWake(local: Local, out: StepOutput | null): void {
    if (closed) return;
    const now = clock.now();
    let wakeAt: number | null = null;
    if (local.waiters.size > 0 && out) {
      const poll = now + Math.ceil(pollMs * (0.5 + random() / 2));
      const candidate = out.blockedUntil ?? Math.min(poll, out.wakeAt ?? poll);
      wakeAt = Math.min(candidate, now + heartbeatMs);
    }
    if (local.wake?.at === wakeAt) return;
    local.wake?.cancel();
    local.wake = null;
    if (wakeAt === null) return;
    local.wake = {
      at: wakeAt,
      ...at(wakeAt, () => {
        local.wake = null;
        void kick(local).catch(() => {});
      }),
    };
  }

  /** Counts an acquisition of `priority` in the current lease slice. */
  function countDemand(local: Local, priority: Priority, now: number): Demand {
    let demand = local.demand.get(priority);
    if (!demand) {
      demand = { sliceStart: now, count: 0, previous: 0 };
      local.demand.set(priority, demand);
    }
    if (now - demand.sliceStart >= leaseMs) {
      demand.previous = now - demand.sliceStart < 2 * leaseMs ? demand.count : 0;
      demand.sliceStart = now;
      demand.count = 0;
    }
    demand.count += 1;
    return demand;
  }

  /** Spends `cost` calls of a lease held for `priority`, if one covers them right now. */
  function spendLeased(local: Local, priority: Priority, cost: number, now: number): boolean {
    const lease = local.leases.get(priority);
    if (!lease || lease.remaining < cost || local.usage?.lockedUntil != null) return false;
    if (now >= lease.until || windowOf(policy, now) !== lease.window) return false;
    lease.remaining -= cost;
    return true;
  }

  /**
   * How many calls to lease beside a call of `priority`: none while anyone waits at the
   * practice, in the guard, or when the last step's count is of another window; else twice the
   * calls of that priority in a recent slice, at most LEASE_MAX and a sixteenth of the room left.
   */
  function leaseSizeOf(local: Local, priority: Priority, demand: Demand, now: number): number {
    const usage = local.usage;
    if (leaseMs <= 0 || !usage || local.leasing.has(priority) || closed) return 0;
    if (now < usage.windowStart || now >= usage.windowEnd - policy.guardMs) return 0;
    const { interactive, refresh, background } = usage.waiting;
    if (interactive + refresh + background > 0 || usage.lockedUntil !== null) return 0;
    if (usage.limit < LEASE_MIN_LIMIT) return 0;
    const room = Math.floor((usage.limit - usage.used) / LEASE_ROOM_DIVISOR);
    const wanted = 2 * Math.max(demand.previous, demand.count - 1);
    return Math.max(0, Math.min(LEASE_MAX, room, wanted));
  }

  /** The calls of an ended lease that were not spent go back at the next step. */
  function endLease(local: Local, priority: Priority, lease: Lease): void {
    lease.end.cancel();
    if (local.leases.get(priority) === lease) local.leases.delete(priority);
    if (lease.remaining > 0) {
      local.toRelease.push({ priority, cost: lease.remaining, window: lease.window });
      lease.remaining = 0;
      if (!closed) void kick(local).catch(() => {});
    }
  }

  /**
   * A lease granted by the step whose count is `usage`: its calls count in that step's window,
   * so it lasts until the slice ends or that window's guard begins, whichever is first.
   */
  function startLease(local: Local, priority: Priority, calls: number, usage: BudgetUsage): void {
    const now = clock.now();
    const window = windowOf(policy, usage.windowStart);
    const until = Math.min(now + leaseMs, usage.windowEnd - policy.guardMs);
    const old = local.leases.get(priority);
    if (old) endLease(local, priority, old);
    const lease: Lease = { window, remaining: calls, until, end: { cancel() {} } };
    local.leases.set(priority, lease);
    if (until <= now) endLease(local, priority, lease);
    else lease.end = at(until, () => endLease(local, priority, lease));
  }

  /**
   * Asks for a lease of `calls` beside a waiter's own call: one more waiter of the same lane,
   * right behind it, taken out in the same step unless granted at once (it never waits).
   */
  function requestLease(local: Local, record: WaiterRecord, calls: number): void {
    const lease: WaiterRecord = { ...record, id: `${owner}.${++seq}`, cost: calls };
    local.leasing.add(record.priority);
    const done = () => local.leasing.delete(record.priority);
    local.waiters.set(lease.id, {
      record: lease,
      enqueuedAt: clock.now(),
      resolve: () => {
        done();
        // Resolved right after the granting step stored its count in `local.usage`.
        if (local.usage) startLease(local, record.priority, calls, local.usage);
      },
      reject: done,
      cleanup: () => {},
      giveUp: { why: 'a lease is taken only when it fits at once' },
    });
    local.toAdd.push(lease);
    local.toRemove.add(lease.id);
  }

  function giveUp(local: Local, waiter: LocalWaiter, why: string, cause?: unknown): void {
    if (!local.waiters.has(waiter.record.id) || waiter.giveUp) return;
    waiter.giveUp = { why, cause };
    local.toRemove.add(waiter.record.id);
    void kick(local).catch(() => {});
  }

  return {
    acquire(practice, options) {
      return new Promise<Grant>((resolve, reject) => {
        const cost = validateAcquire(policy, practice, options);
        const record: WaiterRecord = {
          id: `${owner}.${++seq}`,
          priority: options.priority,
          lane: options.connectionId ?? ANONYMOUS_LANE,
          cost,
        };
        const waiter: LocalWaiter = {
          record,
          enqueuedAt: clock.now(),
          resolve,
          reject,
          cleanup: () => {},
        };
        if (closed) throw exhausted(practice, waiter, 'the budget is closed');
        const { signal, deadline } = options;
        if (signal?.aborted) throw exhausted(practice, waiter, 'the caller aborted', signal.reason);

        const local = localOf(practice);
        const now = clock.now();
        const demand = countDemand(local, options.priority, now);
        if (spendLeased(local, options.priority, cost, now)) {
          // Leases end before the guard: a leased call counts in its window alone.
          resolve(grantOf(policy, practice, record, now));
          return;
        }
        local.waiters.set(record.id, waiter);
        local.toAdd.push(record);
        const leaseSize = leaseSizeOf(local, options.priority, demand, now);
        if (leaseSize > 0) requestLease(local, record, leaseSize);
        if (deadline !== undefined && deadline <= clock.now()) {
          // Added, granted if a slot is free this very instant, else taken out: one step.
          waiter.giveUp = { why: 'the deadline had passed' };
          local.toRemove.add(record.id);
        }
        const deadlineTimer =
          deadline === undefined || waiter.giveUp
            ? undefined
            : at(deadline, () => giveUp(local, waiter, 'the deadline passed'));
        const onAbort = () => giveUp(local, waiter, 'the caller aborted', signal?.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        waiter.cleanup = () => {
          deadlineTimer?.cancel();
          signal?.removeEventListener('abort', onAbort);
        };
        void kick(local).catch(() => {});
      });
    },

    async landed(grant, answeredAt) {
      const landing = landingOf(policy, grant, answeredAt);
      if (!landing || closed) return;
      const local = localOf(grant.practice);
      local.toLand.push(landing);
      // Not recorded (the store away): the next window keeps the slot, as for a call unanswered.
      await kick(local).catch(() => {});
    },

    async unsent(grant) {
      if (closed) return;
      const local = localOf(grant.practice);
      const { priority, cost, window, guard } = grant;
      local.toRelease.push({ priority, cost, window, guard });
      await kick(local).catch(() => {});
    },

    async reportRateLimited(practice, info = {}) {
      const local = localOf(practice);
      // healow disagrees with the count: no call more from a lease, its rest goes back.
      for (const [priority, lease] of [...local.leases]) endLease(local, priority, lease);
      local.rateLimits.push({ retryAfterMs: info.retryAfterMs });
      await kick(local);
    },

    async usage(practice) {
      const local = localOf(practice);
      await kick(local);
      if (!local.usage) throw new BridgeError('internal', `no budget usage for ${practice}`);
      return local.usage;
    },

    async usageAll() {
      // Re-evaluated against the clock first where this process has callers waiting, as every
      // entry point is: a clock moved by a test (or a timer not yet fired) is seen at once.
      await Promise.all([...locals.values()].filter((l) => l.waiters.size > 0).map(kick));
      return store.usageAll(clock.now());
    },

    /** Resolves once no step is under way (tests wait on it instead of on time). */
    async settled() {
      for (;;) {
        const running = [...locals.values()].flatMap((l) => (l.running ? [l.running] : []));
        if (running.length === 0) return;
        await Promise.allSettled(running);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      const gone: string[][] = [];
      for (const local of locals.values()) {
        for (const [priority, lease] of [...local.leases]) endLease(local, priority, lease);
        local.wake?.cancel();
        local.wake = null;
        const ids = [...local.waiters.keys()];
        for (const waiter of local.waiters.values()) {
          waiter.cleanup();
          waiter.reject(exhausted(local.practice, waiter, 'the budget is closed'));
        }
        local.waiters.clear();
        gone.push(ids);
      }
      // Take this process's waiters out of the queue of the others, once its steps are done.
      await Promise.allSettled([...locals.values()].map((l) => l.running));
      await Promise.allSettled(
        [...locals.values()].map((local, i) =>
          gone[i]!.length === 0 && local.toRelease.length === 0 && local.toLand.length === 0
            ? undefined
            : store.step({
                practice: local.practice,
                owner,
                now: clock.now(),
                add: [],
                remove: gone[i]!,
                rateLimited: [],
                release: local.toRelease.splice(0),
                landed: local.toLand.splice(0),
              }),
        ),
      );
      await store.close();
    },
  };
}
