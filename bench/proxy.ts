// Proxy benchmark: what `GET /api/connections/:id/fhir/...` costs over calling the simulator
// directly with the same access token. A read (`Patient/{id}`) and a small search, each at a fixed
// concurrency, a fixed number of requests: latency p50/p99 and requests per second, both ways.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectPatient } from '../test/e2e/helpers/connect.ts';
import { type Stack, startStack } from '../test/e2e/helpers/stack.ts';
import { percentile, pool, ratio, round } from './stats.ts';
import type { BenchResult } from './types.ts';

const PRACTICE = 'JAFJCD';
const CONCURRENCY = [8, 32] as const;
/** Requests per measured run, after a warm-up run of WARM_UP requests. */
const REQUESTS = 1000;
const WARM_UP = 200;
/** High enough that neither the simulator's limit nor the bridge's budget ever holds a call. */
const UNTHROTTLED = 1_000_000;

interface Timing {
  p50: number;
  p99: number;
  rps: number;
  /** Process CPU time (user + system) per request: client, bridge and simulator together. */
  cpuMs: number;
}

/** `REQUESTS` GETs of `url` with `concurrency` at a time; every answer must be a 200. */
async function run(
  url: string,
  headers: Record<string, string>,
  concurrency: number,
  requests = REQUESTS,
): Promise<Timing> {
  const samples: number[] = [];
  const cpu = process.cpuUsage();
  const started = performance.now();
  await pool(
    concurrency,
    Array.from({ length: requests }, () => async () => {
      const sent = performance.now();
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
      samples.push(performance.now() - sent);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    rps: requests / seconds,
    cpuMs: (used.user + used.system) / 1000 / requests,
  };
}

async function compare(
  stack: Stack,
  name: string,
  path: string,
  connectionId: string,
  accessToken: string,
): Promise<BenchResult> {
  const direct = {
    url: `${stack.sim.fhirBase(PRACTICE)}/${path}`,
    headers: { authorization: `Bearer ${accessToken}`, accept: 'application/fhir+json' },
  };
  const proxied = {
    url: `${stack.url}/api/connections/${connectionId}/fhir/${path}`,
    headers: { authorization: `Bearer ${stack.apiKey}` },
  };
  await run(direct.url, direct.headers, 8, WARM_UP);
  await run(proxied.url, proxied.headers, 8, WARM_UP);
  const figures: Record<string, number | string> = {};
  for (const concurrency of CONCURRENCY) {
    const theirs = await run(direct.url, direct.headers, concurrency);
    const ours = await run(proxied.url, proxied.headers, concurrency);
    const c = `c${concurrency}`;
    Object.assign(figures, {
      [`${c}_direct_p50_ms`]: round(theirs.p50),
      [`${c}_proxy_p50_ms`]: round(ours.p50),
      [`${c}_p50_ratio_proxy_over_direct`]: ratio(ours.p50, theirs.p50),
      [`${c}_direct_p99_ms`]: round(theirs.p99),
      [`${c}_proxy_p99_ms`]: round(ours.p99),
      [`${c}_p99_ratio_proxy_over_direct`]: ratio(ours.p99, theirs.p99),
      [`${c}_direct_req_per_s`]: Math.round(theirs.rps),
      [`${c}_proxy_req_per_s`]: Math.round(ours.rps),
      [`${c}_throughput_ratio_proxy_over_direct`]: ratio(ours.rps, theirs.rps),
      [`${c}_direct_cpu_ms_per_req`]: round(theirs.cpuMs, 3),
      [`${c}_proxy_cpu_ms_per_req`]: round(ours.cpuMs, 3),
      [`${c}_cpu_ratio_proxy_over_direct`]: ratio(ours.cpuMs, theirs.cpuMs),
    });
  }
  return {
    name,
    inputs:
      `GET ${path.replace(/=[^&]+/g, '=…').replace(/Patient\/[^?]+/, 'Patient/{id}')}, ` +
      `${REQUESTS} requests per run at concurrency ${CONCURRENCY.join(' and ')} after ${WARM_UP} ` +
      `to warm up; direct: the simulator with the connection's access token; proxy: fhirbridge ` +
      `(API key, budget, token from the vault); simulator limit and bridge budget raised to ` +
      `${UNTHROTTLED} calls per window so that nothing is throttled; keep-alive HTTP on 127.0.0.1, ` +
      `simulator, bridge and client in one Node process (so CPU per request counts all three: ` +
      `the proxy's own cost is the difference)`,
    figures,
  };
}

export async function benchProxy(): Promise<BenchResult[]> {
  const stack = await startStack({
    simulator: { rateLimit: { limit: UNTHROTTLED, windowMs: 60_000 } },
    config: { budget: { limit: UNTHROTTLED, windowMs: 60_000 } },
  });
  try {
    const { connectionId } = await connectPatient(stack, { practice: PRACTICE });
    const patient = (await stack.runtime.vault.get(connectionId)).patientId ?? '';
    const accessToken = await stack.runtime.vault.tokenSource(connectionId).accessToken();
    return [
      await compare(stack, 'proxy-read', `Patient/${patient}`, connectionId, accessToken),
      await compare(
        stack,
        'proxy-search',
        `Condition?patient=${patient}&_count=5`,
        connectionId,
        accessToken,
      ),
    ];
  } finally {
    await stack.close();
  }
}

// `node bin/run-ts.mjs bench/proxy.ts` runs it alone.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const result of await benchProxy()) console.log(JSON.stringify(result, null, 2));
}
