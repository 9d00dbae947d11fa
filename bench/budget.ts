// Budget benchmark: reading every type of several patients at one practice, with healow's rate
// limit compressed into a short window, by a naive client and by fhirbridge, on one simulator.
// Baseline: the standard SMART client `fhirclient`, every search at once, no budget, each 429
// retried after a short pause. fhirbridge: the same searches through the runtime's FHIR client
// and its budget. Figures from the simulator's counters: calls, 429s, calls per window.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bundle } from 'fhir/r4.js';
import smart from 'fhirclient/lib/entry/node';
import { DEFAULT_SCOPES } from '../src/config/schema.ts';
import { healowProfile, type SearchParams } from '../src/fhir/index.ts';
import { connectPatient } from '../test/e2e/helpers/connect.ts';
import { type Stack, startStack } from '../test/e2e/helpers/stack.ts';
import { ratio, round } from './stats.ts';
import type { BenchResult } from './types.ts';

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
  const types = DEFAULT_SCOPES.flatMap((scope) => /^patient\/(\w+)\.read$/.exec(scope)?.[1] ?? []);
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
  // The simulator lets the first SIM_LIMIT calls of a window through and refuses the rest.
  const useful = full.map((w) => Math.min(w.calls, SIM_LIMIT));
  return {
    attempted: counters.callsTotal,
    rateLimited: counters.rateLimited,
    resources,
    ms: ended - started,
    windows: last - first + 1,
    usefulPerFullWindow:
      last > first ? useful.reduce((sum, n) => sum + n, 0) / (last - first) : Number.NaN,
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

export async function benchBudget(): Promise<BenchResult[]> {
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
    const searches = searchesOf(patients);
    // The simulator builds each chart on its first read: build them before either run.
    await Promise.all(
      patients.map(({ patient }) => stack.admin(`/data/${PRACTICE}/${patient}/counts`)),
    );

    const baseline = await measure(stack, () => naive(stack, searches, tokens));
    const ours = await measure(stack, () => bridged(stack, searches));
    return [
      {
        name: 'budget-utilization',
        inputs:
          `simulator ${SIM_LIMIT} calls per ${WINDOW_MS} ms per practice (healow's 250/min compressed), ` +
          `${patients.length} patients at ${PRACTICE}, ${searches.length} searches (every type the ` +
          `healow profile reads, _count=${PAGE_SIZE}) all started at once; baseline: fhirclient ` +
          `(Node adapter, client from the access token), no budget, each 429 retried after ` +
          `${NAIVE_RETRY_MS} ms; fhirbridge: the runtime's FHIR client, budget ${BUDGET_LIMIT} per ` +
          `${WINDOW_MS} ms; one Node process (simulator, bridge, clients)`,
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
  for (const result of await benchBudget()) console.log(JSON.stringify(result, null, 2));
}
