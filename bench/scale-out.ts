// Scale-out against the embedded default on the same inputs: patients synced per minute per
// practice, with healow's 250 calls a minute compressed into 2 s so that a run takes seconds.
// Scale-out is 1 API and 3 worker processes on PostgreSQL and Redis; the embedded default is one
// `serve --role all` process on its SQLite file. Both are real child processes over real HTTP
// against the simulator; the figures are per practice, since the budget is.
import { connectPatient } from '../test/e2e/helpers/connect.ts';
import {
  type Deployment,
  type DeploymentOptions,
  startDeployment,
  until,
} from '../test/e2e/helpers/scale-out.ts';
import type { BenchOptions, BenchResult } from './types.ts';

const WINDOW_MS = 2_000;
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
}

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
  return { seconds, patients: connections.length, calls, rateLimited };
}

async function measure(
  options: Omit<DeploymentOptions, 'simulator' | 'config'>,
  perPractice: number,
): Promise<Run> {
  const d = await startDeployment({
    ...options,
    simulator: { resourcesPerPatient: 100, rateLimit: { limit: SIM_LIMIT, windowMs: WINDOW_MS } },
    config: {
      logLevel: 'warn',
      budget: { limit: BUDGET_LIMIT, windowMs: WINDOW_MS, guardMs: 400 },
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
  ];
}
