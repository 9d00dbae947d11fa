// Budget benchmarks. (1) Utilization: reading every type of several patients at one practice,
// with healow's rate limit compressed into a short window, by a naive client and by fhirbridge,
// on one simulator. Baseline: the standard SMART client `fhirclient`, every search at once, no
// budget, each 429 retried after a short pause; fhirbridge: the same searches through the
// runtime's FHIR client and its budget. Figures from the simulator's counters. (2) The cost of a
// grant on each adapter, against the memory adapter. (3) Live reads under saturation: 200 first
// syncs and 360 live reads at 4 practices on the SQLite budget, the reserve against the old policy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bundle } from 'fhir/r4.js';
import smart from 'fhirclient/lib/entry/node';
import { createMemoryBudget } from '../src/budget/memory.ts';
import { createBudgetPolicy } from '../src/budget/policy.ts';
import type { Budget } from '../src/budget/port.ts';
import { createRedisBudget } from '../src/budget/redis.ts';
import { createSqliteBudget } from '../src/budget/sqlite.ts';
import { systemClock } from '../src/common/clock.ts';
import { DEFAULT_SCOPES } from '../src/config/schema.ts';
import { healowProfile, type SearchParams } from '../src/fhir/index.ts';
import { connectPatient } from '../test/e2e/helpers/connect.ts';
import { type Stack, startStack } from '../test/e2e/helpers/stack.ts';
import { percentile, ratio, round, target } from './stats.ts';
import type { BenchOptions, BenchResult } from './types.ts';

const PRACTICE = 'JAFJCD';
/** healow's 250 calls a minute, compressed: 50 calls a second. */
const SIM_LIMIT = 50;
const WINDOW_MS = 1000;
/** fhirbridge spends 240 of healow's 250: the same share of 50. */
const BUDGET_LIMIT = 48;
/** The naive client's pause after a 429: a tenth of the window (6 s of a real minute). */
const NAIVE_RETRY_MS = WINDOW_MS / 10;
/** Small pages, so that paging is a good part of the work. */
const PAGE_SIZE = 20;
const PATIENTS = ['AdultFemaleFHIR', 'AdultMaleFHIR', 'ChildFemaleFHIR', 'ChildMaleFHIR'];

interface Search {
  connectionId: string;
  patient: string;
  type: string;
  params: SearchParams;
}

interface Run {
  attempted: number;
  rateLimited: number;
  resources: number;
  ms: number;
  windows: number;
  /** Accepted calls per window, every window but the last (the tail is not a full window). */
  usefulPerFullWindow: number;
}

interface Counters {
  callsTotal: number;
  rateLimited: number;
  recentWindows: Array<{ window: number; calls: number }>;
}

/** Every search the healow profile makes to read each granted type of each patient. */
function searchesOf(patients: Array<{ connectionId: string; patient: string }>): Search[] {
  // Patient is read, not searched: healow's simulator refuses a Patient search by _id.
  const types = DEFAULT_SCOPES.flatMap(
    (scope) => /^patient\/(\w+)\.read$/.exec(scope)?.[1] ?? [],
  ).filter((type) => type !== 'Patient');
  return patients.flatMap(({ connectionId, patient }) =>
    types.flatMap((type) =>
      healowProfile.searchesFor(type, patient).map((params) => ({
        connectionId,
        patient,
        type,
        params: { ...params, _count: String(PAGE_SIZE) },
      })),
    ),
  );
}

/**
 * The searches the practice accepts, tried once each for the first patient (the others differ
 * only in the patient): healow refuses some searches a profile may name (`Provenance?patient=`
 * is "not supported" there, and the simulator says so with a 400), which the sync engine
 * remembers and skips; the benchmark leaves them out of both runs.
 */
async function acceptedSearches(stack: Stack, searches: Search[], token: string) {
  const first = searches[0]?.connectionId;
  const refused = new Set<string>();
  for (const search of searches.filter((s) => s.connectionId === first)) {
    const query = new URLSearchParams({ ...search.params, _count: '1' });
    const res = await fetch(`${stack.sim.fhirBase(PRACTICE)}/${search.type}?${query}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
    });
    await res.arrayBuffer();
    if (res.status === 400) refused.add(shapeOf(search));
    else if (res.status !== 200) throw new Error(`${search.type} search: ${res.status}`);
  }
  return {
    accepted: searches.filter((search) => !refused.has(shapeOf(search))),
    refused: [...refused],
  };
}

/** A search without its patient: the type and its other parameters. */
function shapeOf({ type, params }: Search): string {
  const { patient: _patient, ...rest } = params;
  return `${type}?${new URLSearchParams(rest)}`;
}

/** Moves the shared clock to the next window start and zeroes the simulator's counters. */
async function freshWindow(stack: Stack): Promise<void> {
  stack.clock.shift(WINDOW_MS - (stack.clock.now() % WINDOW_MS));
  const reset = await stack.admin('/counters/reset', { method: 'POST', body: '{}' });
  if (reset.status !== 204)
    throw new Error(`counters reset: ${reset.status} ${await reset.text()}`);
}

/** Runs `work` from a fresh window and reads what the simulator counted meanwhile. */
async function measure(stack: Stack, work: () => Promise<number>): Promise<Run> {
  await freshWindow(stack);
  const started = stack.clock.now();
  const resources = await work();
  const ended = stack.clock.now();
  const counters = (await (await stack.admin(`/counters/${PRACTICE}`)).json()) as Counters;
  const first = Math.floor(started / WINDOW_MS);
  const last = Math.floor(ended / WINDOW_MS);
  const full = counters.recentWindows.filter((w) => w.window >= first && w.window < last);
  // Calls the simulator answered: every call it counted less its 429s. It counts 429s per run,
  // not per window, so all of them are taken off the full windows: a lower bound.
  const calls = full.reduce((sum, w) => sum + w.calls, 0);
  const useful = Math.max(0, calls - counters.rateLimited);
  return {
    attempted: counters.callsTotal,
    rateLimited: counters.rateLimited,
    resources,
    ms: ended - started,
    windows: last - first + 1,
    usefulPerFullWindow: last > first ? useful / (last - first) : Number.NaN,
  };
}

/** fhirclient, as an app without a budget would use it: everything at once, retry on 429. */
async function naive(stack: Stack, searches: Search[], tokens: Map<string, string>) {
  const storage = {
    get: async () => undefined,
    set: async (_k: string, v: unknown) => v,
    unset: async () => true,
  };
  const clients = new Map(
    [...tokens].map(([connectionId, accessToken]) => [
      connectionId,
      // The Node adapter needs a request and response only to launch; a client from a token does not.
      smart({} as never, {} as never, storage).client({
        serverUrl: stack.sim.fhirBase(PRACTICE),
        tokenResponse: { access_token: accessToken, token_type: 'Bearer' },
      }),
    ]),
  );
  let resources = 0;
  await Promise.all(
    searches.map(async ({ connectionId, type, params }) => {
      const client = clients.get(connectionId)!;
      let url: string | undefined = `${type}?${new URLSearchParams(params)}`;
      while (url) {
        let page: Bundle | undefined;
        while (!page) {
          try {
            page = (await client.request(url)) as Bundle;
          } catch (error) {
            if ((error as { status?: number }).status !== 429) throw error;
            await new Promise((done) => setTimeout(done, NAIVE_RETRY_MS));
          }
        }
        resources += page.entry?.length ?? 0;
        url = page.link?.find((link) => link.relation === 'next')?.url;
      }
    }),
  );
  return resources;
}

/** The same searches through fhirbridge's FHIR client: every call waits for the budget. */
async function bridged(stack: Stack, searches: Search[]) {
  let resources = 0;
  await Promise.all(
    searches.map(async ({ connectionId, type, params }) => {
      const target = await stack.runtime.fhirTarget(connectionId);
      const found = await stack.runtime.fhir.searchAll(target, type, params, {
        priority: 'background',
      });
      resources += found.length;
    }),
  );
  return resources;
}

function figuresOf(who: string, run: Run): Record<string, number | string> {
  return {
    [`${who}_calls_attempted`]: run.attempted,
    [`${who}_429s`]: run.rateLimited,
    [`${who}_useful_calls`]: run.attempted - run.rateLimited,
    [`${who}_windows_used`]: run.windows,
    [`${who}_useful_calls_per_full_window`]: round(run.usefulPerFullWindow, 1),
    [`${who}_utilization_pct_of_ceiling`]: round((100 * run.usefulPerFullWindow) / SIM_LIMIT, 1),
    [`${who}_time_to_finish_ms`]: Math.round(run.ms),
    [`${who}_resources_read`]: run.resources,
  };
}

/** Microseconds per grant: `count` acquisitions one after another, never waiting. */
async function grantCost(budget: Budget, count: number): Promise<number> {
  const practice = 'https://fhir4.healow.com/fhir/r4/JAFJCD';
  for (let i = 0; i < 50; i++) await budget.acquire(practice, { priority: 'interactive' });
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    await budget.acquire(practice, { priority: 'background', connectionId: `c${i % 4}` });
  }
  const us = ((performance.now() - started) * 1000) / count;
  await budget.close();
  return us;
}

async function benchGrantCost(count: number): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fhirbridge-bench-budget-'));
  // A limit no run reaches and no reserve: every grant is one step, none waits.
  const policy = createBudgetPolicy({ limit: 1_000_000_000, reserveShare: 0 });
  const clock = systemClock;
  try {
    const memory = await grantCost(createMemoryBudget({ clock, policy }), count);
    const sqlite = await grantCost(
      createSqliteBudget({ path: join(dir, 'fhirbridge.db'), clock, policy }),
      count,
    );
    let redis: number | string = 'n/a';
    try {
      redis = round(
        await grantCost(
          createRedisBudget({
            url: process.env.FHIRBRIDGE_BENCH_REDIS ?? 'redis://127.0.0.1:6379',
            keyPrefix: `fhirbridge-bench:${process.pid}:${Date.now()}:`,
            clock,
            policy,
          }),
          count,
        ),
        1,
      );
    } catch {
      // No Redis on this machine: the figure says so.
    }
    return {
      name: 'budget-grant-cost',
      inputs:
        `${count} grants one after another at one practice (4 connections, no waiting), ` +
        `one process; SQLite: one BEGIN IMMEDIATE transaction per grant on a file in ${tmpdir()}; ` +
        'Redis: one Lua script per grant on the local Redis',
      figures: {
        memory_us_per_grant: round(memory, 1),
        sqlite_us_per_grant: round(sqlite, 1),
        redis_us_per_grant: redis,
        ratio_sqlite_over_memory: ratio(sqlite, memory),
        ratio_redis_over_memory: typeof redis === 'number' ? ratio(redis, memory) : 'n/a',
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The practices of the saturation run, each with patients queued for a first sync. */
const SATURATION_PRACTICES = ['JAFJCD', 'BFGHDA', 'EGCAID', 'FJDBGE'];
const QUEUED_PATIENTS = 200;

interface SaturationRun {
  waits: number[];
  /** Calls the simulator answered in each window, practice by practice. */
  perWindow: Record<string, number[]>;
  rateLimited: number;
}

interface SaturationPractice {
  code: string;
  base: string;
  token: string;
  patient: string;
}

/** The calls each practice's simulator counted in each of `windows` windows from `start`. */
async function callsPerWindow(
  stack: Stack,
  practices: readonly SaturationPractice[],
  start: number,
  windowMs: number,
  windows: number,
): Promise<{ perWindow: Record<string, number[]>; rateLimited: number }> {
  const perWindow: Record<string, number[]> = {};
  let rateLimited = 0;
  const first = Math.floor(start / windowMs);
  for (const { code } of practices) {
    const counters = (await (await stack.admin(`/counters/${code}`)).json()) as Counters;
    rateLimited += counters.rateLimited;
    perWindow[code] = Array.from(
      { length: windows },
      (_, i) => counters.recentWindows.find((w) => w.window === first + i)?.calls ?? 0,
    );
  }
  return { perWindow, rateLimited };
}

/**
 * `QUEUED_PATIENTS` first syncs spread over the practices (each a lane of its own, one call at
 * a time without end) and `reads` live reads at random instants over
 * `windows` windows, against the simulator over HTTP; every call through one SQLite budget of
 * 240 a window per practice with `reserveShare`. Waits are measured at the budget.
 */
async function saturation(
  stack: Stack,
  practices: readonly SaturationPractice[],
  {
    reserveShare,
    windowMs,
    windows,
    reads,
  }: {
    reserveShare: number;
    windowMs: number;
    windows: number;
    reads: number;
  },
): Promise<SaturationRun> {
  const dir = mkdtempSync(join(tmpdir(), 'fhirbridge-bench-saturation-'));
  const budget = createSqliteBudget({
    path: join(dir, 'fhirbridge.db'),
    clock: stack.clock,
    // The guard compressed like the window: healow's 1 s of a minute.
    policy: createBudgetPolicy({ limit: 240, windowMs, reserveShare, guardMs: windowMs / 60 }),
  });
  const call = async (practice: SaturationPractice, path: string) => {
    const res = await fetch(`${practice.base}/${path}`, {
      headers: { authorization: `Bearer ${practice.token}`, accept: 'application/fhir+json' },
    });
    await res.arrayBuffer();
  };
  try {
    stack.clock.shift(windowMs - (stack.clock.now() % windowMs));
    await stack.admin('/counters/reset', { method: 'POST', body: '{}' });
    const start = stack.clock.now();
    const end = start + windows * windowMs;
    const sync = async (n: number) => {
      const practice = practices[n % practices.length]!;
      while (stack.clock.now() < end) {
        await budget.acquire(practice.base, {
          priority: 'background',
          connectionId: `patient${n}`,
        });
        if (stack.clock.now() >= end) return;
        // A read, the cheapest call the simulator answers: it shares this process, and its
        // searches would set the pace on a busy machine instead of the budget.
        await call(practice, `Patient/${practice.patient}`);
      }
    };
    const waits: number[] = [];
    const read = async (n: number, at: number) => {
      const practice = practices[n % practices.length]!;
      await new Promise((done) => setTimeout(done, at - stack.clock.now()));
      const asked = stack.clock.now();
      await budget.acquire(practice.base, {
        priority: 'interactive',
        connectionId: `person${n % 20}`,
      });
      waits.push(stack.clock.now() - asked);
      await call(practice, `Patient/${practice.patient}`);
    };
    const arrivals = Array.from(
      { length: reads },
      () => start + Math.floor(Math.random() * (end - start)),
    );
    await Promise.all([
      ...Array.from({ length: QUEUED_PATIENTS }, (_, n) => sync(n)),
      ...arrivals.map((at, n) => read(n, at)),
    ]);
    return { waits, ...(await callsPerWindow(stack, practices, start, windowMs, windows)) };
  } finally {
    await budget.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The smallest share of the ceiling (240) any practice's window used, in percent. */
function minWindowUse(run: SaturationRun): number {
  return round((100 * Math.min(...Object.values(run.perWindow).flat())) / 240, 1);
}

async function benchSaturation(quick: boolean): Promise<BenchResult> {
  // healow's minute compressed: 250 a window at the simulator, 240 spent by the budget.
  // 12 s: 80 calls a second over the 4 practices, which this one process (simulator, budget and
  // 200 lanes) keeps up with on a shared machine; at 6 s it could not, and set the pace itself.
  const windowMs = 12_000;
  const windows = quick ? 3 : 6;
  const reads = quick ? 180 : 360;
  const stack = await startStack({
    simulator: { rateLimit: { limit: 250, windowMs }, quirks: { foreignLinks: false } },
    // The bridge's own worker stays idle: every call at the practices is the benchmark's.
    config: { sync: { onConnect: false, concurrency: 0, intervalMs: 0 } },
  });
  try {
    const practices: SaturationPractice[] = [];
    for (const code of SATURATION_PRACTICES) {
      const { connectionId } = await connectPatient(stack, {
        practice: code,
        username: 'AdultFemaleFHIR',
      });
      const connection = await stack.runtime.vault.get(connectionId);
      const patient = connection.patientId ?? '';
      const token = await stack.runtime.vault.tokenSource(connectionId).accessToken();
      await stack.admin(`/data/${code}/${patient}/counts`);
      practices.push({ code, base: stack.sim.fhirBase(code), token, patient });
    }
    const inputs = { windowMs, windows, reads };
    // A second of healow's minute, at this window's scale.
    const patienceMs = windowMs / 60;
    const old = await saturation(stack, practices, { ...inputs, reserveShare: 0 });
    const ours = await saturation(stack, practices, { ...inputs, reserveShare: 0.25 });
    const figures: Record<string, number | string> = {
      baseline_live_wait_p50_ms: percentile(old.waits, 50),
      baseline_live_wait_p99_ms: percentile(old.waits, 99),
      baseline_min_window_use_pct: minWindowUse(old),
      baseline_429s: old.rateLimited,
      reserve_live_wait_p50_ms: percentile(ours.waits, 50),
      reserve_live_wait_p99_ms: percentile(ours.waits, 99),
      // The same wait in seconds of healow's real minute.
      reserve_live_wait_p99_in_minute_seconds: round(percentile(ours.waits, 99) / patienceMs, 2),
      reserve_min_window_use_pct: minWindowUse(ours),
      reserve_calls_per_window: Object.entries(ours.perWindow)
        .map(([code, calls]) => `${code}: ${calls.join(' ')}`)
        .join('; '),
      reserve_429s: ours.rateLimited,
      ratio_live_wait_p99_reserve_over_baseline: ratio(
        percentile(ours.waits, 99),
        percentile(old.waits, 99),
        3,
      ),
    };
    return {
      name: 'budget-live-reads-under-saturation',
      inputs:
        `${practices.length} practices, simulator 250 calls per ${windowMs} ms window each ` +
        `(healow's minute compressed ${60_000 / windowMs}×), one SQLite budget of 240 a window ` +
        `per practice; ${QUEUED_PATIENTS} patients queued for a first sync (each a lane of its ` +
        `own, one call at a time without end, a Patient read so that the simulator in this ` +
        `process never sets the pace, spread evenly over the practices) ` +
        `and ${reads} live reads at random instants and practices over ${windows} windows; ` +
        `baseline: priority orders only waiting calls (reserveShare 0); reserve: the default ` +
        `reserveShare 0.25. Calls per window are the simulator's own counts; a live read's ` +
        `wait is measured at the budget; ${patienceMs} ms here is healow's 1 s (the guard too).`,
      figures,
      targets: [
        target(figures, 'reserve_live_wait_p99_ms', '<=', patienceMs),
        target(figures, 'reserve_min_window_use_pct', '>=', 98),
        target(figures, 'reserve_429s', '==', 0),
      ],
    };
  } finally {
    await stack.close();
  }
}

export async function benchBudget(
  options: BenchOptions = { preset: 'full' },
): Promise<BenchResult[]> {
  const quick = options.preset === 'quick';
  const cost = await benchGrantCost(quick ? 2_000 : 10_000);
  const saturated = await benchSaturation(quick);
  let utilization: BenchResult[];
  try {
    utilization = await benchUtilization();
  } catch (error) {
    // The other figures stand on their own; this one says why it is missing.
    const why = error instanceof Error ? error.message.split('\n')[0] : String(error);
    utilization = [
      { name: 'budget-utilization', inputs: 'see bench/budget.ts', figures: { failed: why ?? '' } },
    ];
  }
  return [cost, saturated, ...utilization];
}

async function benchUtilization(): Promise<BenchResult[]> {
  const stack = await startStack({
    // Links on the simulator's own host: fhirclient follows `next` links as they come, and
    // healow's foreign host must never be called from here.
    simulator: {
      rateLimit: { limit: SIM_LIMIT, windowMs: WINDOW_MS },
      quirks: { foreignLinks: false },
    },
    config: { budget: { limit: BUDGET_LIMIT, windowMs: WINDOW_MS } },
  });
  try {
    const patients = [];
    for (const username of PATIENTS) {
      const { connectionId } = await connectPatient(stack, { practice: PRACTICE, username });
      const connection = await stack.runtime.vault.get(connectionId);
      patients.push({ connectionId, patient: connection.patientId ?? '' });
    }
    const tokens = new Map<string, string>();
    for (const { connectionId } of patients) {
      tokens.set(connectionId, await stack.runtime.vault.tokenSource(connectionId).accessToken());
    }
    // The simulator builds each chart on its first read: build them before either run.
    await Promise.all(
      patients.map(({ patient }) => stack.admin(`/data/${PRACTICE}/${patient}/counts`)),
    );
    const { accepted: searches, refused } = await acceptedSearches(
      stack,
      searchesOf(patients),
      tokens.values().next().value ?? '',
    );

    const baseline = await measure(stack, () => naive(stack, searches, tokens));
    const ours = await measure(stack, () => bridged(stack, searches));
    return [
      {
        name: 'budget-utilization',
        inputs:
          `simulator ${SIM_LIMIT} calls per ${WINDOW_MS} ms per practice (healow's 250/min compressed), ` +
          `${patients.length} patients at ${PRACTICE}, ${searches.length} searches (every type the ` +
          `healow profile reads, _count=${PAGE_SIZE}, less the ones the practice refuses: ` +
          `${refused.join(', ') || 'none'}) all started at once; baseline: fhirclient ` +
          `(Node adapter, client from the access token), no budget, each 429 retried after ` +
          `${NAIVE_RETRY_MS} ms; fhirbridge: the runtime's FHIR client, budget ${BUDGET_LIMIT} per ` +
          `${WINDOW_MS} ms; one Node process (simulator, bridge, clients); useful calls are ` +
          `the simulator's calls in the full windows less every 429 it counted`,
        figures: {
          ...figuresOf('baseline', baseline),
          ...figuresOf('fhirbridge', ours),
          ratio_429s_fhirbridge_over_baseline: ratio(ours.rateLimited, baseline.rateLimited, 3),
          ratio_calls_attempted_fhirbridge_over_baseline: ratio(ours.attempted, baseline.attempted),
          ratio_utilization_fhirbridge_over_baseline: ratio(
            ours.usefulPerFullWindow,
            baseline.usefulPerFullWindow,
          ),
          ratio_time_to_finish_fhirbridge_over_baseline: ratio(ours.ms, baseline.ms),
        },
      },
    ];
  } finally {
    await stack.close();
  }
}

// `node bin/run-ts.mjs bench/budget.ts` runs it alone.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const preset = process.argv.includes('--quick') ? 'quick' : 'full';
  for (const result of await benchBudget({ preset })) console.log(JSON.stringify(result, null, 2));
}
