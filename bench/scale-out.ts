// Scale-out against the embedded default on the same inputs: patients synced per minute per
// practice, with healow's 250 calls a minute compressed into 6 s so that a run takes a minute.
// Scale-out is 1 API and 3 worker processes on PostgreSQL and Redis; the embedded default is one
// `serve --role all` process on its SQLite file. Both are real child processes over real HTTP
// against the simulator; the figures are per practice, since the budget is. Beside the wall
// clock (inflated on a loaded machine), the CPU the bridge's processes spent per patient.
// Then what a budget grant costs on each backend when two budget instances (two processes'
// worth) share it: the SQLite file of the embedded default, Redis of scale-out, and the memory
// budget of one process as the baseline.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryBudget } from '../src/budget/memory.ts';
import { createBudgetPolicy } from '../src/budget/policy.ts';
import type { Budget } from '../src/budget/port.ts';
import { createRedisBudget } from '../src/budget/redis.ts';
import { createSqliteBudget } from '../src/budget/sqlite.ts';
import { systemClock } from '../src/common/clock.ts';
import { connectPatient } from '../test/e2e/helpers/connect.ts';
import {
  cpuSecondsOf,
  type Deployment,
  type DeploymentOptions,
  startDeployment,
  until,
} from '../test/e2e/helpers/scale-out.ts';
import { ratio, round } from './stats.ts';
import type { BenchOptions, BenchResult } from './types.ts';

const WINDOW_MS = 6_000;
const SIM_LIMIT = 25;
const BUDGET_LIMIT = 24;
/** How much faster than healow's minute the windows run. */
const COMPRESSION = 60_000 / WINDOW_MS;
const PATIENTS = ['AdultFemaleFHIR', 'ChildFemaleFHIR', 'ChildMaleFHIR'];
const PRACTICES = ['JAFJCD', 'BFGHDA', 'EGCAID'];

interface Run {
  seconds: number;
  patients: number;
  calls: number;
  rateLimited: number;
  /** CPU seconds of every bridge process during the syncs. */
  cpuSeconds: number;
}

const bridgeCpu = (d: Deployment) =>
  [...d.apis, ...d.workers].reduce((sum, p) => sum + cpuSecondsOf(p), 0);

async function syncAll(d: Deployment, perPractice: number): Promise<Run> {
  const connections: string[] = [];
  for (const practice of PRACTICES) {
    for (let i = 0; i < perPractice; i++) {
      const username = PATIENTS[i % PATIENTS.length] as string;
      const { connectionId } = await connectPatient(d.via(d.apis[0]!), { practice, username });
      connections.push(connectionId);
    }
  }
  await d.admin('/counters/reset', { method: 'POST', body: '{}' });
  const cpuBefore = bridgeCpu(d);
  const started = performance.now();
  const ids: string[] = [];
  for (const connectionId of connections) {
    const res = await d.via(d.apis[0]!).api(`/api/connections/${connectionId}/sync`, {
      method: 'POST',
      body: '{}',
    });
    ids.push(((await res.json()) as { job: { id: string } }).job.id);
  }
  await until(
    async () => {
      const jobs = await Promise.all(ids.map((id) => d.runtime.jobs.get(id)));
      return jobs.every((j) => j?.status === 'succeeded' || j?.status === 'failed')
        ? true
        : undefined;
    },
    'the syncs to end',
    600_000,
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = bridgeCpu(d) - cpuBefore;
  let calls = 0;
  let rateLimited = 0;
  for (const practice of PRACTICES) {
    const c = (await (await d.admin(`/counters/${practice}`)).json()) as {
      callsTotal: number;
      rateLimited: number;
    };
    calls += c.callsTotal;
    rateLimited += c.rateLimited;
  }
  return { seconds, patients: connections.length, calls, rateLimited, cpuSeconds };
}

async function measure(
  options: Omit<DeploymentOptions, 'simulator' | 'config'>,
  perPractice: number,
): Promise<Run> {
  const d = await startDeployment({
    ...options,
    // Counting calls by arrival in a process of its own, as healow does.
    simulatorProcess: true,
    simulator: { resourcesPerPatient: 100, rateLimit: { limit: SIM_LIMIT, windowMs: WINDOW_MS } },
    config: {
      logLevel: 'warn',
      budget: { limit: BUDGET_LIMIT, windowMs: WINDOW_MS, guardMs: 1_000 },
      sync: { concurrency: 8 },
    },
  });
  try {
    return await syncAll(d, perPractice);
  } finally {
    await d.close();
  }
}

const perMinute = (run: Run) =>
  // Per practice, in healow's real minutes: the windows ran COMPRESSION times faster.
  Number((run.patients / PRACTICES.length / ((run.seconds * COMPRESSION) / 60)).toFixed(2));

const cpuMsPerPatient = (run: Run) => Math.round((1000 * run.cpuSeconds) / run.patients);

/** Microseconds per grant: `count` grants one after another, alternating between the budgets. */
async function grantCost(budgets: readonly Budget[], count: number): Promise<number> {
  const practice = 'https://fhir4.healow.com/fhir/r4/JAFJCD';
  for (const budget of budgets) await budget.acquire(practice, { priority: 'interactive' });
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const budget = budgets[i % budgets.length] as Budget;
    await budget.acquire(practice, { priority: 'background', connectionId: `c${i % 4}` });
  }
  const us = ((performance.now() - started) * 1000) / count;
  await Promise.all(budgets.map((b) => b.close()));
  return us;
}

async function benchSharedGrantCost(count: number): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fhirbridge-bench-scale-'));
  // A limit no run reaches and no reserve: every grant is granted at once, none waits.
  const policy = createBudgetPolicy({ limit: 1_000_000_000, reserveShare: 0 });
  const clock = systemClock;
  const path = join(dir, 'fhirbridge.db');
  const keyPrefix = `fhirbridge-bench-scale:${process.pid}:${Date.now()}:`;
  const url = process.env.FHIRBRIDGE_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
  try {
    const memory = await grantCost([createMemoryBudget({ clock, policy })], count);
    const sqlite = await grantCost(
      [1, 2].map(() => createSqliteBudget({ path, clock, policy })),
      count,
    );
    const redis = await grantCost(
      [1, 2].map(() => createRedisBudget({ url, keyPrefix, clock, policy })),
      count,
    );
    return {
      name: 'scale-out-grant-cost',
      inputs:
        `${count} grants one after another at one practice (4 connections, no waiting), ` +
        'alternating between two budget instances on one backend as two processes would: ' +
        `the SQLite file (in ${tmpdir()}) and the local Redis; memory: one instance, one process`,
      figures: {
        memory_us_per_grant: round(memory, 1),
        sqlite_file_us_per_grant: round(sqlite, 1),
        redis_us_per_grant: round(redis, 1),
        ratio_sqlite_over_memory: ratio(sqlite, memory),
        ratio_redis_over_memory: ratio(redis, memory),
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchScaleOut({ preset }: BenchOptions): Promise<BenchResult[]> {
  const perPractice = preset === 'quick' ? 3 : 6;
  const embedded = await measure({ apis: 0, workers: 0, all: 1, embedded: true }, perPractice);
  const scaleOut = await measure({ apis: 1, workers: 3 }, perPractice);
  return [
    {
      name: 'scale-out-throughput',
      inputs:
        `${PRACTICES.length} practices x ${perPractice} patients (100 resources each) synced at once; ` +
        `budget ${BUDGET_LIMIT} of the simulator's ${SIM_LIMIT} calls per ${WINDOW_MS} ms window ` +
        `(healow's minute compressed ${COMPRESSION}x); scale-out: 1 API + 3 workers on PostgreSQL ` +
        'and Redis; baseline: the embedded default, one process on SQLite; same simulator seed',
      figures: {
        'patients/min/practice, scale-out (healow minutes)': perMinute(scaleOut),
        'patients/min/practice, embedded (healow minutes)': perMinute(embedded),
        'scale-out / embedded': Number((perMinute(scaleOut) / perMinute(embedded)).toFixed(2)),
        'seconds, scale-out': Number(scaleOut.seconds.toFixed(1)),
        'seconds, embedded': Number(embedded.seconds.toFixed(1)),
        'calls per patient, scale-out': Math.round(scaleOut.calls / scaleOut.patients),
        'calls per patient, embedded': Math.round(embedded.calls / embedded.patients),
        'bridge CPU ms per patient, scale-out': cpuMsPerPatient(scaleOut),
        'bridge CPU ms per patient, embedded': cpuMsPerPatient(embedded),
        'CPU per patient, scale-out / embedded': ratio(
          cpuMsPerPatient(scaleOut),
          cpuMsPerPatient(embedded),
        ),
        'upstream 429s, scale-out': scaleOut.rateLimited,
        'upstream 429s, embedded': embedded.rateLimited,
      },
      targets: [
        {
          figure: 'upstream 429s, scale-out',
          target: '= 0',
          met: scaleOut.rateLimited === 0,
        },
      ],
    },
    await benchSharedGrantCost(preset === 'quick' ? 500 : 2_000),
  ];
}
