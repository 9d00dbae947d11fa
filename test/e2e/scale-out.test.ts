// Scale-out for real: 2 `serve --role api` and 3 `serve --role worker` processes on PostgreSQL and
// Redis (job queue and call budget), against the simulator over HTTP with healow's 250 calls a
// minute compressed into 6 s. Fifty patients at five practices, synced at once on requests
// through both API processes, with access tokens short-lived enough that every connection is
// refreshed during its sync: each sync runs once, spread over the workers, no upstream 429, no
// window of any practice over healow's limit, every full window (sync work queued before and
// after it) spends at least 95 % of the budget, 23 of its 24 (the figures per window are
// printed), no
// refresh token is used twice (the simulator's own count), every store equal to the ground truth.
// A worker killed with SIGKILL mid-sync has its job finished by another, nothing lost or doubled;
// Redis killed and started again mid-run: /readyz says so meanwhile, and every sync finishes. A
// worker sent SIGTERM mid-sync hands its job back without counting the attempt and exits 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/index.ts';
import type { StoredResource } from '../../src/store/port.ts';
import type { SyncProgress } from '../../src/sync/index.ts';
import { connectPatient } from './helpers/connect.ts';
import { expectedRecord, grantedTypesOf, type Truth } from './helpers/ground-truth.ts';
import {
  cpuSecondsOf,
  type Deployment,
  jobStarts,
  startDeployment,
  until,
} from './helpers/scale-out.ts';

const PATIENTS = ['AdultFemaleFHIR', 'AdultMaleFHIR', 'ChildFemaleFHIR', 'ChildMaleFHIR'];
const PRACTICES = ['JAFJCD', 'BFGHDA', 'EGCAID', 'FJDBGE', 'CDHJEB'];
const PATIENTS_PER_PRACTICE = 10;
/**
 * healow's 250 a minute compressed into 6 s; the bridge spends 24 of the simulator's 25. Six
 * seconds, not less: five practices at full speed then ask about 20 calls a second of the
 * bridge's processes, which a loaded 2-core test machine still serves on time (a granted call
 * sent late, behind a busy event loop, lands in the next window).
 */
const WINDOW_MS = 6_000;
const SIM_LIMIT = 25;
const BUDGET_LIMIT = 24;
const GUARD_MS = 1_500;
/**
 * The share of the budget every full window spends, as the simulator counts: 23 of 24. A window
 * that filled in its guard keeps the next window a slot for each guard call until the call is
 * answered within it (then it arrived there, and the slot comes back), so only the guard calls
 * still unanswered at the window's end cost the next window anything.
 */
const FULL_WINDOW_SHARE = 0.95;
const FULL_WINDOW_LEAST = Math.ceil(FULL_WINDOW_SHARE * BUDGET_LIMIT);
/**
 * The patients of the big run share the types a sync searches, not the ones it reads one by
 * one (references, documents' Binary): about 25 calls a patient, so the run takes a minute.
 */
const UNTICKED = [
  'Binary',
  'Location',
  'Medication',
  'Organization',
  'Practitioner',
  'PractitionerRole',
  'Provenance',
].map((type) => `patient/${type}.read`);
/** Access tokens last 30 s and are refreshed 10 s before they end: several times during the run. */
const TOKEN_LIFETIME_S = 30;

let d: Deployment;
beforeAll(async () => {
  d = await startDeployment({
    apis: 2,
    workers: 3,
    // Counting each call in the window it arrives in, as healow does, not when a busy test
    // process gets to it.
    simulatorProcess: true,
    simulator: {
      resourcesPerPatient: 40,
      rateLimit: { limit: SIM_LIMIT, windowMs: WINDOW_MS },
      accessTokenLifetimeS: TOKEN_LIFETIME_S,
    },
    config: {
      // Calls granted in a window's last 1.5 s count in the next one too: on a loaded test
      // machine a granted call can take that long to reach the simulator. The reserve for live
      // reads is the default one: what live reads leave of it goes to the syncs before the guard.
      budget: { limit: BUDGET_LIMIT, windowMs: WINDOW_MS, guardMs: GUARD_MS },
      refresh: { leewayMs: 10_000, intervalMs: 1_000 },
      // Every sign-in of the run comes from this one address.
      signIn: { perAddress: { limit: 1_000 }, perBrowser: { limit: 1_000 } },
      // Enough sync slots for every patient at once: the budget, not the workers, sets the pace.
      // A lease long enough that a worker starved of CPU on a loaded machine keeps its jobs.
      sync: { concurrency: 20, leaseMs: 20_000 },
    },
  });
}, 240_000);
afterAll(async () => {
  await d?.close();
});

interface Connected {
  connectionId: string;
  practice: string;
  username: string;
}

/** Connects each patient at `practice` through the second API process (the browser comes back to the first). */
async function connectAll(
  practice: string,
  usernames = PATIENTS,
  untick: string[] = [],
): Promise<Connected[]> {
  const out: Connected[] = [];
  for (const username of usernames) {
    const { connectionId, outcome } = await connectPatient(d.via(d.apis[1]!), {
      practice,
      username,
      untick,
    });
    expect(outcome).toBe('connected');
    out.push({ connectionId, practice, username });
  }
  return out;
}

/** `count` usernames, the test patients over and over. */
const usernamesOf = (count: number) =>
  Array.from({ length: count }, (_, i) => PATIENTS[i % PATIENTS.length] as string);

/** Asks for a sync of each connection at once, alternating between the API processes. */
async function requestSyncs(connections: ReadonlyArray<{ connectionId: string }>) {
  return Promise.all(
    connections.map(async ({ connectionId }, i) => {
      const api = d.via(d.apis[i % d.apis.length]!);
      const res = await api.api(`/api/connections/${connectionId}/sync`, {
        method: 'POST',
        body: '{}',
      });
      expect(res.status, await res.clone().text()).toBe(202);
      return ((await res.json()) as { job: { id: string } }).job.id;
    }),
  );
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
  refreshes: number;
  refreshTokenReuses: number;
  recentWindows: Array<{ window: number; calls: number }>;
}

const counters = async (practice: string) =>
  (await (await d.admin(`/counters/${practice}`)).json()) as Counters;

/**
 * The simulator's calls per window of each practice, read all along (it keeps only the last
 * ten windows of each).
 */
function windowRecorder(practices: readonly string[]) {
  const windows = new Map<string, Map<number, number>>(practices.map((p) => [p, new Map()]));
  return {
    async read() {
      for (const practice of practices) {
        for (const w of (await counters(practice)).recentWindows) {
          windows.get(practice)?.set(w.window, w.calls);
        }
      }
    },
    /** Calls per window, oldest first, from the first window with a call to the last. */
    of(practice: string): number[] {
      const seen = windows.get(practice) ?? new Map<number, number>();
      const numbers = [...seen.keys()];
      if (numbers.length === 0) return [];
      const first = Math.min(...numbers);
      const last = Math.max(...numbers);
      return Array.from({ length: last - first + 1 }, (_, i) => seen.get(first + i) ?? 0);
    },
    /** The number of the first window `of` lists. */
    firstOf(practice: string): number {
      return Math.min(...(windows.get(practice)?.keys() ?? []));
    },
  };
}

/**
 * The windows in which sync work was queued at each practice's budget (background calls waiting),
 * as the test's own runtime sees the shared budget when sampled, once a second.
 */
function queueRecorder(practices: readonly string[]) {
  const queued = new Map<string, Set<number>>(practices.map((p) => [p, new Set()]));
  return {
    async read() {
      for (const usage of await d.runtime.budget.usageAll()) {
        const practice = practices.find((p) => usage.practice.endsWith(`/${p}`));
        if (!practice || usage.waiting.background === 0) continue;
        queued.get(practice)?.add(Math.floor(usage.windowStart / WINDOW_MS));
      }
    },
    of: (practice: string): Set<number> => queued.get(practice) ?? new Set(),
  };
}

/**
 * The full windows: every window strictly after the first and before the last one in which sync
 * work was queued (from start to end, the syncs had calls waiting for each of them). `first` is
 * the window number of `used[0]`; returns the calls of each full window, in order.
 */
function fullWindows(used: readonly number[], first: number, queued: Set<number>): number[] {
  if (queued.size === 0) return [];
  const from = Math.min(...queued) + 1;
  const to = Math.max(...queued) - 1;
  return used.filter((_, i) => first + i >= from && first + i <= to);
}

const typesDone = (job: Job | undefined) =>
  Object.values((job?.progress as SyncProgress | null)?.types ?? {}).filter(
    (t) => t.status === 'done',
  ).length;

describe('2 API and 3 worker processes on PostgreSQL and Redis', () => {
  it('fifty patients at five practices syncing at once: each sync once, spread over the workers, no 429, no window over the limit, every full window spent to 95 % (23 of 24), no double refresh, every store equal to the ground truth', async () => {
    const connections = (
      await Promise.all(
        PRACTICES.map((practice) =>
          connectAll(practice, usernamesOf(PATIENTS_PER_PRACTICE), UNTICKED),
        ),
      )
    ).flat();
    // Counted from here: the syncs' windows, not the sign-ins'.
    await d.admin('/counters/reset', { method: 'POST', body: '{}' });
    const windows = windowRecorder(PRACTICES);
    const queues = queueRecorder(PRACTICES);
    const ids = await requestSyncs(connections);
    const jobs = await until(
      async () => {
        await Promise.all([windows.read(), queues.read()]);
        const all = await Promise.all(ids.map((id) => d.runtime.jobs.get(id)));
        return all.every((j) => j?.status === 'succeeded' || j?.status === 'failed')
          ? (all as Job[])
          : undefined;
      },
      'the syncs to end',
      150_000,
      // The simulator shares this process: polling lightly leaves it the CPU.
      1_000,
    );
    await windows.read();
    const cpu = [...d.apis, ...d.workers].map((p) => `${p.role} ${cpuSecondsOf(p)}`);
    const own = process.cpuUsage();
    console.log(`cpu s: ${cpu.join(', ')}; test+simulator ${(own.user + own.system) / 1e6}`);

    const seen = await Promise.all(
      PRACTICES.map(async (practice) => ({
        practice,
        c: await counters(practice),
        used: windows.of(practice),
        full: fullWindows(windows.of(practice), windows.firstOf(practice), queues.of(practice)),
      })),
    );
    console.log(
      `calls per ${WINDOW_MS} ms window (full ones):\n${seen
        .map(
          ({ practice, c, used, full }) =>
            `${practice}: ${used.join(' ')} (${full.join(' ')}; refreshes ${c.refreshes})`,
        )
        .join('\n')}`,
    );
    for (const job of jobs) {
      expect(job, job.lastError ?? '').toMatchObject({ status: 'succeeded', attempts: 1 });
    }
    const starts = jobStarts(d.workers);
    for (const id of ids) expect(starts.get(id), id).toHaveLength(1);
    expect(new Set([...starts.values()].flat()).size).toBe(3);
    for (const { practice, c, used, full } of seen) {
      expect(c.rateLimited, `${practice}: upstream 429s`).toBe(0);
      expect(c.refreshTokenReuses, `${practice}: refresh tokens used twice`).toBe(0);
      expect(c.refreshes, `${practice}: refreshes during the syncs`).toBeGreaterThan(0);
      // Counted on arrival, as healow counts: a call granted at a window's end may land in the
      // next, which the budget's margin under healow's limit absorbs.
      expect(Math.max(...used), `${practice} windows: ${used.join(' ')}`).toBeLessThanOrEqual(
        SIM_LIMIT,
      );
      expect(c.peakCallsPerWindow, practice).toBeLessThanOrEqual(SIM_LIMIT);
      // Every full window, as the simulator counts it: the syncs had calls waiting from before
      // it began until after it ended.
      expect(full.length, `${practice} windows: ${used.join(' ')}`).toBeGreaterThanOrEqual(5);
      expect(
        Math.min(...full),
        `${practice} full windows: ${full.join(' ')}`,
      ).toBeGreaterThanOrEqual(FULL_WINDOW_LEAST);
    }
    for (const c of connections) {
      expect(await d.runtime.jobs.list({ connectionId: c.connectionId, limit: 10 })).toHaveLength(
        1,
      );
      expect(await expectGroundTruth(d, c.connectionId, c.practice, c.username)).toBeGreaterThan(0);
    }
  }, 300_000);

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
  }, 240_000);

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
  }, 240_000);
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
  }, 240_000);
});
