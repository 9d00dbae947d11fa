// The embedded default across processes: the server (answering live reads) and two
// `fhirbridge sync` child processes at one practice draw from one budget kept in the SQLite file,
// so together they never spend more than its limit in any window, and the server sees the
// children's work wait in it. Counted where healow would count: the simulator's calls per window
// (a compressed window, real time, real processes, real HTTP).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { BudgetUsage } from '../../src/budget/port.ts';
import { runCliSync } from './helpers/cli-sync.ts';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

/** healow's 250 a minute compressed into 2 s; the bridge spends 24 of the simulator's 25. */
const WINDOW_MS = 2_000;
const SIM_LIMIT = 25;
const BUDGET_LIMIT = 24;

interface Counters {
  rateLimited: number;
  peakCallsPerWindow: number;
  recentWindows: Array<{ window: number; calls: number }>;
}

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

it('server and two CLI syncs at one practice never spend more than the budget in a window', {
  timeout: 120_000,
}, async () => {
  stack = await startStack({
    simulator: { resourcesPerPatient: 300, rateLimit: { limit: SIM_LIMIT, windowMs: WINDOW_MS } },
    config: {
      // A call counts where it arrives; on a loaded machine one may take longer to get there
      // than the default guard of a compressed window (100 ms), and land in the next.
      budget: { limit: BUDGET_LIMIT, windowMs: WINDOW_MS, guardMs: 500 },
      // The server runs no jobs here: the child processes do the syncing.
      sync: { concurrency: 0, onConnect: false, intervalMs: 0 },
    },
  });
  const s = stack;
  const patients = ['AdultFemaleFHIR', 'AdultMaleFHIR', 'ChildMaleFHIR'];
  const connections: string[] = [];
  for (const username of patients) {
    const { connectionId, outcome } = await connectPatient(s, { username });
    expect(outcome).toBe('connected');
    connections.push(connectionId);
  }
  const [live, ...synced] = connections as [string, string, string];
  const patient = ((await (await s.api(`/api/connections/${live}`)).json()) as { patient: string })
    .patient;
  const configFile = join(s.dataDir, 'child-config.json');
  writeFileSync(configFile, JSON.stringify(s.runtime.config), { mode: 0o600 });
  expect((await s.admin('/counters/reset', { method: 'POST', body: '{}' })).status).toBe(204);

  // The windows the simulator counted, gathered as they pass (it keeps only the last ten).
  const windows = new Map<number, number>();
  const gather = async () => {
    const c = (await (await s.admin('/counters/JAFJCD')).json()) as Counters;
    for (const w of c.recentWindows) windows.set(w.window, w.calls);
    return c;
  };
  const syncs = synced.map((connectionId) => runCliSync(configFile, connectionId));
  let done = false;
  const exited = Promise.race(syncs.map((sync) => sync.exited)).then((code) => {
    done = true;
    return code;
  });
  // Meanwhile the server answers a person's live reads at the same practice, two at a time.
  const statuses: number[] = [];
  const reader = async () => {
    while (!done) {
      const res = await s.api(`/api/connections/${live}/fhir/Patient/${patient}`);
      await res.arrayBuffer();
      statuses.push(res.status);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const reads = Promise.all([reader(), reader()]);
  // Watched from the children's first wait in the server's view (the server runs no syncs, so
  // background work waiting there is theirs) for 8 windows, or until a sync ends.
  let firstWait: number | undefined;
  let peakWaiting = 0;
  const until = performance.now() + 90_000;
  while (!done && performance.now() < until) {
    await gather();
    const usage = (await (await s.api('/api/budget')).json()) as BudgetUsage[];
    const here = usage.find((u) => u.practice === s.sim.fhirBase('JAFJCD'));
    const waiting = here?.waiting.background ?? 0;
    peakWaiting = Math.max(peakWaiting, waiting);
    if (waiting > 0) firstWait ??= performance.now();
    if (firstWait !== undefined && performance.now() - firstWait > 8 * WINDOW_MS) break;
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS / 4));
  }
  done = true;
  await reads;
  const outputs = syncs.map((sync) => sync.output()).join('\n');
  expect(await Promise.race([exited, 'running']), outputs).toBe('running');
  expect(statuses.filter((status) => status !== 200)).toEqual([]);

  const c = await gather();
  const seen = JSON.stringify([...windows].sort(([a], [b]) => a - b));
  expect(peakWaiting, `${seen}\n${outputs}`).toBeGreaterThanOrEqual(1);
  expect(c.rateLimited, seen).toBe(0);
  expect(c.peakCallsPerWindow, seen).toBeLessThanOrEqual(BUDGET_LIMIT);
  for (const calls of windows.values()) expect(calls, seen).toBeLessThanOrEqual(BUDGET_LIMIT);
  // The window was contested: spent to (nearly) the last call, by the server and the children.
  expect(c.peakCallsPerWindow, seen).toBeGreaterThanOrEqual(BUDGET_LIMIT - 2);
  expect(statuses.length).toBeGreaterThan(0);
});
