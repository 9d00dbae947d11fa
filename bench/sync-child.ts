// One measured client in a process of its own (bench/sync.ts spawns it), so that its peak RSS is
// its own and not the simulator's. Modes:
//   baseline    load the modules and stop (what a Node process with them costs)
//   fhirbridge  a full sync of the connection with fhirbridge's engine, into the SQLite store
//   fhirclient  SMART client-js: `client.request(search, { pageLimit: 0 })` for every search
// Input comes as JSON in BENCH_INPUT; one line of JSON goes out on stdout.
import smart from 'fhirclient/lib/entry/node';
import { createMemoryBudget } from '../src/budget/memory.ts';
import { createBudgetPolicy } from '../src/budget/policy.ts';
import { createLogger } from '../src/common/logger.ts';
import type { Config } from '../src/config/schema.ts';
import { createFhirClient } from '../src/fhir/index.ts';
import { createRuntime } from '../src/runtime.ts';
import { createSyncEngine } from '../src/sync/index.ts';

export interface ChildInput {
  mode: 'baseline' | 'fhirbridge' | 'fhirclient';
  config?: Config;
  connectionId?: string;
  /** fhirclient: the FHIR base, the access token and the searches (`Type?params`). */
  base?: string;
  accessToken?: string;
  searches?: string[];
  /** fhirbridge: searches in flight at once. */
  concurrency?: number;
}

export interface ChildOutput {
  wallMs: number;
  /** CPU time of this process (user and system) over the same span as `wallMs`. */
  cpuMs: number;
  /** Peak resident set size of the whole process, in MiB. */
  peakRssMb: number;
  resources: number;
  calls: number;
}

/** Every request stays on 127.0.0.1: fhirclient follows `next` links wherever they point. */
function guardLoopback(): () => number {
  const original = globalThis.fetch;
  let calls = 0;
  globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.hostname !== '127.0.0.1') {
      return Promise.reject(new Error(`bench refuses to call ${url.host}`));
    }
    calls++;
    return original(input, init);
  };
  return () => calls;
}

async function runFhirbridge(
  input: ChildInput,
): Promise<Omit<ChildOutput, 'wallMs' | 'cpuMs' | 'peakRssMb'>> {
  if (!input.config || !input.connectionId)
    throw new Error('fhirbridge needs config and connectionId');
  const logger = createLogger({ level: 'silent' });
  const opened = performance.now();
  const runtime = await createRuntime({ config: input.config, logger });
  if (process.env.BENCH_MEMORY_TRACE) {
    process.stderr.write(`runtime opened in ${Math.round(performance.now() - opened)} ms\n`);
  }
  // The simulator's rate limit is raised for the bench, so the bridge's budget is too: the
  // figures are the engine's, not healow's 250 calls a minute.
  const budget = createMemoryBudget({
    clock: runtime.clock,
    policy: createBudgetPolicy({ limit: 1_000_000 }),
  });
  try {
    const engine = createSyncEngine(
      {
        store: runtime.store,
        fhir: createFhirClient({ budget, clock: runtime.clock, logger }),
        fhirTarget: runtime.fhirTarget,
        vault: runtime.vault,
        clock: runtime.clock,
        logger,
        events: runtime.events,
      },
      input.concurrency === undefined ? {} : { concurrency: input.concurrency },
    );
    const result = await engine.run(input.connectionId, { mode: 'full' });
    return { resources: result.totals.resources, calls: result.totals.calls };
  } finally {
    await budget.close();
    await runtime.close();
  }
}

async function runFhirclient(
  input: ChildInput,
  calls: () => number,
): Promise<Omit<ChildOutput, 'wallMs' | 'cpuMs' | 'peakRssMb'>> {
  if (!input.base || !input.accessToken || !input.searches) throw new Error('fhirclient input');
  const storage = {
    get: async () => undefined,
    set: async (_key: string, value: unknown) => value,
    unset: async () => true,
  };
  // A client made from a token, as an app backend that did its launch elsewhere would.
  const client = smart({} as never, {} as never, storage).client({
    serverUrl: input.base,
    tokenResponse: { access_token: input.accessToken, token_type: 'Bearer' },
  });
  const results: unknown[] = [];
  let resources = 0;
  for (const search of input.searches) {
    // healow refuses `Patient?_id=`: the patient is read by id instead, as the engine falls back.
    const byId = /^Patient\?_id=([^&]+)$/.exec(search);
    if (byId) {
      results.push(await client.request(`Patient/${byId[1]}`));
      resources++;
      continue;
    }
    // pageLimit 0: every page, kept in memory as fhirclient does (an array of Bundles). A search
    // the server refuses (healow has none for Provenance) holds nothing to keep.
    const pages = (await client.request(search, { pageLimit: 0 }).catch((error: unknown) => {
      if ((error as { status?: number }).status === 400) return [];
      throw error;
    })) as Array<{ entry?: unknown[] }>;
    for (const page of pages) resources += page.entry?.length ?? 0;
    results.push(pages);
  }
  return { resources, calls: calls() };
}

/**
 * With BENCH_MEMORY_TRACE set: the peak of each part of `process.memoryUsage()` (sampled every
 * 50 ms, and at the end), written to stderr, to see what a peak RSS is made of.
 */
function traceMemory(): () => void {
  if (!process.env.BENCH_MEMORY_TRACE) return () => {};
  const peak: Record<string, number> = {};
  const sample = () => {
    for (const [k, v] of Object.entries(process.memoryUsage())) peak[k] = Math.max(peak[k] ?? 0, v);
  };
  sample();
  const start = { ...peak };
  const timer = setInterval(sample, 50);
  return () => {
    clearInterval(timer);
    sample();
    const mb = (n: number) => Math.round(n / 104857.6) / 10;
    const parts = Object.keys(peak).map((k) => `${k} ${mb(start[k] ?? 0)} → ${mb(peak[k] ?? 0)}`);
    process.stderr.write(`memory (MB, start → peak): ${parts.join(', ')}\n`);
  };
}

async function main(): Promise<void> {
  const input = JSON.parse(process.env.BENCH_INPUT ?? '{}') as ChildInput;
  const stopTrace = traceMemory();
  const calls = guardLoopback();
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  const counts =
    input.mode === 'fhirbridge'
      ? await runFhirbridge(input)
      : input.mode === 'fhirclient'
        ? await runFhirclient(input, calls)
        : { resources: 0, calls: 0 };
  stopTrace();
  const cpu = process.cpuUsage(cpuAtStart);
  const output: ChildOutput = {
    wallMs: Math.round(performance.now() - started),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    peakRssMb: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
    ...counts,
  };
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

await main();
