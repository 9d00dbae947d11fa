// The proxy benchmark's load generator, in a process of its own (bench/proxy.ts spawns it):
// `concurrency` keep-alive connections (an undici Pool), each sending its next GET as soon as
// the last is answered. Latency is timed per request with performance.now(), so sub-millisecond
// differences survive (autocannon's histogram keeps whole milliseconds). Over IPC: `warmed`
// after the warm-up, then it waits for `go`, so that the parent reads the other processes' CPU
// time around the measured requests only; the result is the last message.
import { Pool } from 'undici';
import { percentile } from './stats.ts';

export interface LoadInput {
  url: string;
  headers: Record<string, string>;
  concurrency: number;
  requests: number;
  warmUp: number;
}

export interface LoadResult {
  p50Ms: number;
  p99Ms: number;
  reqPerS: number;
  /** Answers other than 200 (each one fails the run). */
  failures: number;
  firstFailure?: string;
}

const input = JSON.parse(process.env.BENCH_LOAD ?? '{}') as LoadInput;
const target = new URL(input.url);
const pool = new Pool(target.origin, { connections: input.concurrency, pipelining: 1 });
const path = target.pathname + target.search;

async function fire(requests: number, samples: number[] | undefined): Promise<LoadResult> {
  let next = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  const started = performance.now();
  const connection = async () => {
    while (next < requests) {
      next++;
      const sent = performance.now();
      const res = await pool.request({ method: 'GET', path, headers: input.headers });
      const body = await res.body.text();
      samples?.push(performance.now() - sent);
      if (res.statusCode !== 200) {
        failures++;
        firstFailure ??= `${res.statusCode}: ${body.slice(0, 300)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: input.concurrency }, connection));
  const seconds = (performance.now() - started) / 1000;
  return {
    p50Ms: percentile(samples ?? [], 50),
    p99Ms: percentile(samples ?? [], 99),
    reqPerS: requests / seconds,
    failures,
    ...(firstFailure === undefined ? {} : { firstFailure }),
  };
}

await fire(input.warmUp, undefined);
const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
process.send?.('warmed');
await go;
const samples: number[] = [];
process.send?.(await fire(input.requests, samples));
await pool.close();
process.disconnect();
