// Timers, injected like the clock: real ones in production, ManualTimers in tests, which fire
// each due timer at its own instant as the test moves a ManualClock, so no test sleeps.
import type { Clock, ManualClock } from './clock.ts';

export type TimerHandle = unknown;

export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Lets promise chains and I/O started by a timer run before the next one fires. */
export const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface ManualTimer {
  at: number;
  fn: () => void;
}

/** Timers that fire only when `advance` moves the ManualClock past them. */
export class ManualTimers implements Timers {
  readonly #clock: ManualClock;
  readonly #settle: () => Promise<void>;
  readonly #timers = new Map<number, ManualTimer>();
  #seq = 0;

  constructor(clock: ManualClock, settle: () => Promise<void> = nextMacrotask) {
    this.#clock = clock;
    this.#settle = settle;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#clock.now() + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** Timers not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves the clock forward by `ms`, firing each timer due on the way at its own due time
   * (earliest first, ties in the order they were set) and settling after each.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#clock.now() + ms;
    for (;;) {
      const next = this.#earliestDueBy(end);
      if (!next) break;
      const [id, timer] = next;
      this.#timers.delete(id);
      if (timer.at > this.#clock.now()) this.#clock.set(timer.at);
      timer.fn();
      await this.#settle();
    }
    this.#clock.set(Math.max(end, this.#clock.now()));
    await this.#settle();
  }

  /** Moves the clock to `time` (epoch ms), firing timers on the way. */
  advanceTo(time: number): Promise<void> {
    return this.advance(time - this.#clock.now());
  }

  #earliestDueBy(end: number): [number, ManualTimer] | undefined {
    let best: [number, ManualTimer] | undefined;
    for (const entry of this.#timers) {
      // Map iteration follows insertion (= id) order, so `<` keeps ties in order set.
      if (entry[1].at <= end && (!best || entry[1].at < best[1].at)) best = entry;
    }
    return best;
  }
}

/** Runs `fn` once `clock` reaches `time`; real timers may fire a little early, so it re-arms. */
export function runAt(
  clock: Clock,
  timers: Timers,
  time: number,
  fn: () => void,
): { cancel(): void } {
  let handle: TimerHandle;
  const arm = () => {
    handle = timers.setTimeout(
      () => (clock.now() >= time ? fn() : arm()),
      Math.max(0, time - clock.now()),
    );
  };
  arm();
  return { cancel: () => timers.clearTimeout(handle) };
}
