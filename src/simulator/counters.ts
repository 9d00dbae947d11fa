// Per-practice counters: ground truth for tests and benchmarks (calls per rate window, 429s,
// tokens, refreshes, refresh tokens used twice, refused client assertions by reason), read at
// `GET /admin/counters`.

import type { PracticeCounters, SimClock, SimCounters, SimRateLimit } from './context.ts';

/** How many past windows `recentWindows` keeps. */
const RECENT_WINDOWS = 10;

interface Entry extends PracticeCounters {
  /** floor(now / windowMs) of callsThisWindow. */
  window: number;
}

const zero = (window: number): Entry => ({
  window,
  callsThisWindow: 0,
  callsTotal: 0,
  peakCallsPerWindow: 0,
  recentWindows: [],
  rateLimited: 0,
  tokensIssued: 0,
  refreshes: 0,
  refreshTokenReuses: 0,
  assertionFailures: {},
});

/** `rateLimit` is read on every call, so an admin change of the window applies at once. */
export function createCounters(clock: SimClock, rateLimit: SimRateLimit): SimCounters {
  const entries = new Map<string, Entry>();
  const windowNow = (): number => Math.floor(clock.now() / rateLimit.windowMs);

  const entry = (code: string): Entry => {
    const window = windowNow();
    let e = entries.get(code);
    if (!e) {
      e = zero(window);
      entries.set(code, e);
    }
    if (e.window !== window) {
      e.window = window;
      e.callsThisWindow = 0;
    }
    return e;
  };

  const recordWindow = (e: Entry): void => {
    const last = e.recentWindows[e.recentWindows.length - 1];
    if (last?.window === e.window) last.calls = e.callsThisWindow;
    else e.recentWindows.push({ window: e.window, calls: e.callsThisWindow });
    if (e.recentWindows.length > RECENT_WINDOWS) e.recentWindows.shift();
    e.peakCallsPerWindow = Math.max(e.peakCallsPerWindow, e.callsThisWindow);
  };

  const view = (e: Entry): PracticeCounters => ({
    callsThisWindow: e.window === windowNow() ? e.callsThisWindow : 0,
    callsTotal: e.callsTotal,
    peakCallsPerWindow: e.peakCallsPerWindow,
    recentWindows: e.recentWindows.map((w) => ({ ...w })),
    rateLimited: e.rateLimited,
    tokensIssued: e.tokensIssued,
    refreshes: e.refreshes,
    refreshTokenReuses: e.refreshTokenReuses,
    assertionFailures: { ...e.assertionFailures },
  });

  return {
    countCall(code) {
      const e = entry(code);
      e.callsThisWindow += 1;
      e.callsTotal += 1;
      recordWindow(e);
      return e.callsThisWindow;
    },
    rateLimited(code) {
      entry(code).rateLimited += 1;
    },
    tokenIssued(code) {
      entry(code).tokensIssued += 1;
    },
    refreshed(code) {
      entry(code).refreshes += 1;
    },
    refreshTokenReused(code) {
      entry(code).refreshTokenReuses += 1;
    },
    assertionFailed(code, reason) {
      const failures = entry(code).assertionFailures;
      failures[reason] = (failures[reason] ?? 0) + 1;
    },
    get(code) {
      const e = entries.get(code);
      return view(e ?? zero(windowNow()));
    },
    snapshot() {
      return Object.fromEntries([...entries].map(([code, e]) => [code, view(e)]));
    },
    reset() {
      entries.clear();
    },
  };
}
