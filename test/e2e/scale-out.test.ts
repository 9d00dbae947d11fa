// Scale-out for real: 2 `serve --role api` and 3 `serve --role worker` processes on PostgreSQL and
// Redis (job queue and call budget), against the simulator over HTTP with healow's 250 calls a
// minute compressed into 2 s. Twenty patients at five practices, synced at once on requests
// through both API processes: each sync runs once, spread over the workers, no upstream 429 and no
// window over healow's limit at any practice, every store equal to the ground truth.
// A worker killed with SIGKILL mid-sync has its job finished by another, nothing lost or doubled;
// Redis killed and started again mid-run: /readyz says so meanwhile, and every sync finishes. A
// worker sent SIGTERM mid-sync hands its job back without counting the attempt and exits 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/index.ts';
import type { StoredResource } from '../../src/store/port.ts';
import type { SyncProgress } from '../../src/sync/index.ts';
import { connectPatient } from './helpers/connect.ts';
import { expectedRecord, grantedTypesOf, type Truth } from './helpers/ground-truth.ts';
import { type Deployment, jobStarts, startDeployment, until } from './helpers/scale-out.ts';

const PATIENTS = ['AdultFemaleFHIR', 'AdultMaleFHIR', 'ChildFemaleFHIR', 'ChildMaleFHIR'];
/** healow's 250 a minute compressed into 2 s; the bridge spends 24 of the simulator's 25. */
const WINDOW_MS = 2_000;
const SIM_LIMIT = 25;
const BUDGET_LIMIT = 24;

let d: Deployment;
beforeAll(async () => {
  d = await startDeployment({
    apis: 2,
    workers: 3,
    simulator: { resourcesPerPatient: 100, rateLimit: { limit: SIM_LIMIT, windowMs: WINDOW_MS } },
    config: {
      // Calls granted in a window's last 400 ms count in the next one too: on a loaded test
      // machine a granted call can take that long to reach the simulator.
      budget: { limit: BUDGET_LIMIT, windowMs: WINDOW_MS, guardMs: 400 },
      // Enough sync slots for every patient at once: the budget, not the workers, sets the pace.
      sync: { concurrency: 8 },
    },
  });
}, 120_000);
afterAll(async () => {
  await d?.close();
});

/** Connects each patient at `practice` through the second API process (the browser comes back to the first). */
async function connectAll(practice: string, usernames = PATIENTS) {
  const out: Array<{ connectionId: string; practice: string; username: string }> = [];
  for (const username of usernames) {
    const { connectionId, outcome } = await connectPatient(d.via(d.apis[1]!), {
      practice,
      username,
    });
    expect(outcome).toBe('connected');
    out.push({ connectionId, practice, username });
  }
  return out;
}

/** Asks for a sync of each connection, alternating between the API processes. */
async function requestSyncs(connections: ReadonlyArray<{ connectionId: string }>) {
  const jobs: string[] = [];
  for (const [i, { connectionId }] of connections.entries()) {
    const api = d.via(d.apis[i % d.apis.length]!);
    const res = await api.api(`/api/connections/${connectionId}/sync`, {
      method: 'POST',
      body: '{}',
    });
    expect(res.status, await res.clone().text()).toBe(202);
    jobs.push(((await res.json()) as { job: { id: string } }).job.id);
  }
  return jobs;
}

async function jobsEnded(ids: readonly string[], timeoutMs = 150_000): Promise<Job[]> {
  return until(
    async () => {
      const jobs = await Promise.all(ids.map((id) => d.runtime.jobs.get(id)));
      return jobs.every((j) => j?.status === 'succeeded' || j?.status === 'failed')
        ? (jobs as Job[])
        : undefined;
    },
    'the syncs to end',
    timeoutMs,
  );
}

/** Expects the connection's stored record to equal the simulator's ground truth, once each. */
async function expectGroundTruth(
  d: Deployment,
  connectionId: string,
  practice: string,
  username: string,
): Promise<number> {
  const connection = await d.runtime.vault.get(connectionId);
  const granted = grantedTypesOf(connection.grantedScopes);
  const truthRes = await d.admin(`/data/${practice}/${username}/resources`);
  const truth = ((await truthRes.json()) as { entry: Array<{ resource: Truth }> }).entry.map(
    (e) => e.resource,
  );
  const expected = expectedRecord(truth, granted);
  const rows: StoredResource[] = [];
  for await (const r of d.runtime.store.resources.iterate(connectionId)) rows.push(r);
  const got = new Map(rows.map((r) => [`${r.type}/${r.id}`, r.json]));
  expect(rows.length, `${connectionId}: no duplicates`).toBe(got.size);
  expect([...got.keys()].sort(), `${connectionId}: the same resources`).toEqual(
    [...expected.keys()].sort(),
  );
  for (const [k, json] of expected) {
    expect(JSON.stringify(JSON.parse(got.get(k) ?? 'null')), k).toBe(json);
  }
  return rows.length;
}

interface Counters {
  rateLimited: number;
  peakCallsPerWindow: number;
  recentWindows: Array<{ window: number; calls: number }>;
}

const typesDone = (job: Job | undefined) =>
  Object.values((job?.progress as SyncProgress | null)?.types ?? {}).filter(
    (t) => t.status === 'done',
  ).length;

describe('2 API and 3 worker processes on PostgreSQL and Redis', () => {
  it('twenty patients at five practices syncing at once: each sync once, spread over the workers, no 429, no window over the limit, every store equal to the ground truth', async () => {
    const practices = ['JAFJCD', 'BFGHDA', 'EGCAID', 'FJDBGE', 'CDHJEB'];
    const connections = [];
    for (const practice of practices) {
      connections.push(...(await connectAll(practice)));
    }
    // Counted from here: the syncs' windows, not the sign-ins'.
    await d.admin('/counters/reset', { method: 'POST', body: '{}' });
    // The simulator keeps the last ten windows: they are read all along and kept here.
    const windows = new Map<string, Map<number, number>>(practices.map((p) => [p, new Map()]));
    const readWindows = async () => {
      for (const practice of practices) {
        const counters = (await (await d.admin(`/counters/${practice}`)).json()) as Counters;
        for (const w of counters.recentWindows) windows.get(practice)?.set(w.window, w.calls);
      }
    };
    const ids = await requestSyncs(connections);
    const jobs = await until(
      async () => {
        await readWindows();
        const all = await Promise.all(ids.map((id) => d.runtime.jobs.get(id)));
        return all.every((j) => j?.status === 'succeeded' || j?.status === 'failed')
          ? (all as Job[])
          : undefined;
      },
      'the syncs to end',
      150_000,
    );
    await readWindows();

    for (const job of jobs) expect(job).toMatchObject({ status: 'succeeded', attempts: 1 });
    const starts = jobStarts(d.workers);
    for (const id of ids) expect(starts.get(id), id).toHaveLength(1);
    expect(new Set([...starts.values()].flat()).size).toBe(3);
    for (const practice of practices) {
      const counters = (await (await d.admin(`/counters/${practice}`)).json()) as Counters;
      expect(counters.rateLimited, `${practice}: upstream 429s`).toBe(0);
      const used = [...(windows.get(practice) ?? new Map()).entries()]
        .sort(([a], [b]) => a - b)
        .map(([, calls]) => calls);
      // Counted on arrival, as healow counts: a call granted at a window's end may land in the
      // next, which the budget's margin under healow's limit absorbs.
      expect(Math.max(...used), `${practice} windows: ${used.join(' ')}`).toBeLessThanOrEqual(
        SIM_LIMIT,
      );
      expect(counters.peakCallsPerWindow, practice).toBeLessThanOrEqual(SIM_LIMIT);
    }
    for (const c of connections) {
      expect(await d.runtime.jobs.list({ connectionId: c.connectionId, limit: 10 })).toHaveLength(
        1,
      );
      expect(await expectGroundTruth(d, c.connectionId, c.practice, c.username)).toBeGreaterThan(0);
    }
  }, 240_000);

  it('a worker killed with SIGKILL mid-sync: another takes the job over and nothing is lost or doubled', async () => {
    const [c] = await connectAll('CDHJEB', ['AdultFemaleFHIR']);
    const { connectionId } = c!;
    // Each FHIR call takes a while, so the sync is still running when its worker dies.
    await d.admin('/faults', {
      method: 'POST',
      body: JSON.stringify({ route: 'fhir', latencyMs: 60 }),
    });
    const [id] = await requestSyncs([c!]);
    const mid = await until(async () => {
      const job = await d.runtime.jobs.get(id!);
      return job?.status === 'running' && typesDone(job) >= 2 ? job : undefined;
    }, 'the sync to be mid-way');
    const pid = Number(mid.leaseOwner?.split(':')[1]);
    const victim = d.workers.find((w) => w.child.pid === pid);
    expect(victim, `a worker with pid ${pid}`).toBeDefined();
    victim!.child.kill('SIGKILL');
    expect(await victim!.exited).toBe('SIGKILL');
    await d.admin('/faults', { method: 'DELETE', body: '{}' });

    const [job] = await jobsEnded([id!]);
    expect(job).toMatchObject({ status: 'succeeded', attempts: 2 });
    const starts = jobStarts(d.workers).get(id!) ?? [];
    expect(starts).toHaveLength(2);
    expect(starts.filter((p) => p !== pid)).toHaveLength(1);
    await expectGroundTruth(d, connectionId, 'CDHJEB', 'AdultFemaleFHIR');
    const events = await d.runtime.store.events.list({ connectionId, limit: 50 });
    expect(events.filter((e) => e.type === 'sync.completed')).toHaveLength(1);
  }, 120_000);

  it('Redis killed and started again mid-run: /readyz turns 503 then 200, and every sync finishes', async () => {
    const connections = await connectAll('DEBIFC');
    await d.admin('/faults', {
      method: 'POST',
      body: JSON.stringify({ route: 'fhir', latencyMs: 30 }),
    });
    const ids = await requestSyncs(connections);
    await until(async () => {
      const jobs = await Promise.all(ids.map((id) => d.runtime.jobs.get(id)));
      return jobs.some((j) => j?.status === 'running' && typesDone(j) >= 1) ? true : undefined;
    }, 'a sync to be running');
    const worker = d.workers.find((w) => w.child.exitCode === null && w.child.signalCode === null)!;
    await d.redis.kill();
    const down = await until(async () => {
      const res = await fetch(`${worker.url}/readyz`);
      return res.status === 503
        ? ((await res.json()) as { dependencies: Record<string, { ok: boolean }> })
        : undefined;
    }, 'a worker to report Redis down');
    expect(down.dependencies).toMatchObject({ store: { ok: true }, redis: { ok: false } });
    await d.redis.start();
    await until(
      async () => ((await fetch(`${worker.url}/readyz`)).status === 200 ? true : undefined),
      'the worker to be ready again',
    );
    await d.admin('/faults', { method: 'DELETE', body: '{}' });
    const jobs = await jobsEnded(ids);
    for (const job of jobs) expect(job.status).toBe('succeeded');
    for (const c of connections) {
      await expectGroundTruth(d, c.connectionId, c.practice, c.username);
      const events = await d.runtime.store.events.list({ connectionId: c.connectionId, limit: 50 });
      expect(events.filter((e) => e.type === 'sync.completed')).toHaveLength(1);
    }
  }, 120_000);
  it('a worker sent SIGTERM mid-sync hands its job back uncounted and exits 0; another finishes it', async () => {
    const [c] = await connectAll('FJDBGE', ['ChildFemaleFHIR']);
    await d.admin('/faults', {
      method: 'POST',
      body: JSON.stringify({ route: 'fhir', latencyMs: 60 }),
    });
    const [id] = await requestSyncs([c!]);
    const mid = await until(async () => {
      const job = await d.runtime.jobs.get(id!);
      return job?.status === 'running' && typesDone(job) >= 2 ? job : undefined;
    }, 'the sync to be mid-way');
    const pid = Number(mid.leaseOwner?.split(':')[1]);
    const stopping = d.workers.find((w) => w.child.pid === pid)!;
    stopping.child.kill('SIGTERM');
    expect(await stopping.exited).toBe(0);
    await d.admin('/faults', { method: 'DELETE', body: '{}' });
    const [job] = await jobsEnded([id!]);
    // Handed back, not lapsed: the stopped run's claim was refunded.
    expect(job).toMatchObject({ status: 'succeeded', attempts: 1 });
    const starts = jobStarts(d.workers).get(id!) ?? [];
    expect(starts).toHaveLength(2);
    expect(starts.filter((p) => p !== pid)).toHaveLength(1);
    await expectGroundTruth(d, c!.connectionId, 'FJDBGE', 'ChildFemaleFHIR');
  }, 120_000);
});
