// A real `fhirbridge sync` child process, killed with SIGKILL in the middle of a sync (seen from
// the job's persisted per-type progress, not guessed with a sleep), then started again: it
// waits out the dead process's lease, takes the same job over, resumes from the checkpoints,
// and the store ends up equal to the simulator's ground truth with no duplicates.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { Job } from '../../src/jobs/index.ts';
import type { StoredResource } from '../../src/store/port.ts';
import type { SyncProgress } from '../../src/sync/index.ts';
import { runCliSync } from './helpers/cli-sync.ts';
import { connectPatient } from './helpers/connect.ts';
import { expectedRecord, grantedTypesOf, type Truth } from './helpers/ground-truth.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** Waits (by polling the store the child writes) until `test` holds for the connection's job. */
async function jobWhere(
  s: Stack,
  connectionId: string,
  test: (job: Job) => boolean,
  what: string,
  exited?: Promise<unknown>,
): Promise<Job> {
  let gone = false;
  void exited?.then(() => {
    gone = true;
  });
  for (;;) {
    const [job] = await s.runtime.jobs.list({ connectionId, limit: 1 });
    if (job && test(job)) return job;
    if (gone) throw new Error(`the child exited before: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const typesOf = (job: Job) => (job.progress as SyncProgress | null)?.types ?? {};

it('a sync killed with SIGKILL mid-way resumes in a new process and matches the ground truth', async () => {
  stack = await startStack({
    simulator: { resourcesPerPatient: 1500, rateLimit: { limit: 100_000 } },
    // The server in this test runs no jobs: the child processes do the syncing.
    config: {
      sync: { concurrency: 0, onConnect: false, intervalMs: 0, leaseMs: 2_000 },
      logLevel: 'silent',
    },
  });
  const s = stack;
  const { connectionId } = await connectPatient(s, { username: 'AdultFemaleFHIR' });
  // Each FHIR call takes a while, so the sync lasts long enough to be killed in the middle.
  const fault = await s.admin('/faults', {
    method: 'POST',
    body: JSON.stringify({ route: 'fhir', latencyMs: 80 }),
  });
  expect(fault.status).toBe(201);

  const configFile = join(s.dataDir, 'child-config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      ...s.runtime.config,
      sync: { ...s.runtime.config.sync, progressIntervalMs: 0 },
    }),
  );

  // First process: killed once some types are done and others are not.
  const first = runCliSync(configFile, connectionId);
  const mid = await jobWhere(
    s,
    connectionId,
    (job) => {
      const states = Object.values(typesOf(job)).map((t) => t.status);
      const done = states.filter((st) => st === 'done').length;
      return done >= 4 && states.some((st) => st === 'pending' || st === 'running');
    },
    'four types done, others not',
    first.exited,
  );
  first.child.kill('SIGKILL');
  expect(await first.exited).toBe('SIGKILL');
  const atKill = await s.runtime.jobs.get(mid.id);
  expect(atKill).toMatchObject({ status: 'running', attempts: 1 });
  const pagesAtKill = Object.values(typesOf(atKill!)).reduce((n, t) => n + t.pages, 0);
  expect(pagesAtKill).toBeGreaterThan(0);
  const storedAtKill = Object.values(
    await s.runtime.store.resources.countByType(connectionId),
  ).reduce((a, b) => a + b, 0);
  expect(storedAtKill).toBeGreaterThan(0);

  // Second process: joins the same job, takes it over when the dead one's lease lapses.
  await s.admin('/faults', { method: 'DELETE', body: '{}' });
  await s.admin('/counters/reset', { method: 'POST', body: '{}' });
  const second = runCliSync(configFile, connectionId);
  const code = await second.exited;
  expect(code, second.output()).toBe(0);
  expect(second.output()).toContain('already running: joining it');
  expect(second.output()).toMatch(/synced con_\S+: [\d,]+ resources/);

  const job = await s.runtime.jobs.get(mid.id);
  expect(job).toMatchObject({ status: 'succeeded', attempts: 2 });
  expect(await s.runtime.jobs.list({ connectionId, limit: 10 })).toHaveLength(1);
  // Resumed, not restarted: the second process made fewer calls than the whole run took (the
  // run's totals count both processes' work, once).
  const result = job?.result as { totals: { calls: number; inserted: number } };
  const counters = (await (await s.admin('/counters/JAFJCD')).json()) as { callsTotal: number };
  expect(counters.callsTotal).toBeGreaterThan(0);
  expect(counters.callsTotal).toBeLessThan(result.totals.calls);

  // The store equals the simulator's ground truth, with no duplicates.
  const connection = await s.runtime.vault.get(connectionId);
  const granted = grantedTypesOf(connection.grantedScopes);
  const truthRes = await s.admin('/data/JAFJCD/AdultFemaleFHIR/resources');
  const truth = ((await truthRes.json()) as { entry: Array<{ resource: Truth }> }).entry.map(
    (e) => e.resource,
  );
  const expected = expectedRecord(truth, granted);
  const rows: StoredResource[] = [];
  for await (const r of s.runtime.store.resources.iterate(connectionId)) rows.push(r);
  const got = new Map(rows.map((r) => [`${r.type}/${r.id}`, r.json]));
  expect(rows.length).toBe(got.size);
  expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
  // As the server wrote it, key for key (see sync.test.ts).
  for (const [k, json] of expected) {
    expect(JSON.stringify(JSON.parse(got.get(k) ?? 'null')), k).toBe(json);
  }
  // Every row was new to this run, and counted once across both processes.
  expect(result.totals.inserted).toBe(rows.length);

  const events = await s.runtime.store.events.list({ connectionId, limit: 50 });
  expect(events.filter((e) => e.type === 'sync.completed')).toHaveLength(1);
});
