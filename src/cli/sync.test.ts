// The `sync` command on a real runtime (temp SQLite file) with a stand-in engine: it queues the
// sync, runs it here with live progress, joins a run already queued, takes over a run whose
// process died, follows one another process holds, and fails with a clear message.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BridgeError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { loadConfig } from '../config/index.ts';
import type { JobHandler } from '../jobs/index.ts';
import { requestSync } from '../jobs/sync-job.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import { connection } from '../store/store.contract.ts';
import { sandboxDefaults } from './setup.ts';
import { runSyncCommand } from './sync.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-cli-sync-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const CON = 'con_clisyncclisync01';

function capture() {
  const text: string[] = [];
  return { text, stream: { isTTY: false, write: (t: string) => text.push(t) } };
}

const types = (status: 'running' | 'done') => ({
  Patient: { status: 'done' as const, resources: 1, pages: 1 },
  Observation: { status, resources: 30, pages: 3 },
});

/** Reports progress like the engine, then completes. */
const engineLike = (runs: string[] = []): JobHandler => ({
  async run(job, { progress }) {
    runs.push(job.id);
    progress({
      runId: job.id,
      connectionId: CON,
      mode: 'full',
      types: types('running'),
      startedAt: 0,
    });
    progress({
      runId: job.id,
      connectionId: CON,
      mode: 'full',
      types: types('done'),
      startedAt: 0,
    });
    return {
      startedAt: 1_000,
      finishedAt: 3_500,
      totals: { resources: 31, inserted: 31, updated: 0, deleted: 0, calls: 5 },
    };
  },
});

describe('fhirbridge sync', () => {
  let runtime: Runtime;
  beforeEach(async () => {
    const dataDir = mkdtempSync(join(root, 'rt-'));
    runtime = await createRuntime({
      config: loadConfig({
        env: {},
        base: sandboxDefaults('http://127.0.0.1:9'),
        overrides: { dataDir, logLevel: 'silent' },
      }),
      logger: createLogger({ level: 'silent' }),
    });
    await runtime.store.connections.insert(connection({ id: CON }));
  });
  afterEach(async () => {
    await runtime.close();
  });

  it('queues the sync, runs it here and prints each type and a summary', async () => {
    const out = capture();
    const err = capture();
    const status = await runSyncCommand(runtime, CON, {
      mode: 'full',
      out: out.stream,
      err: err.stream,
      handler: engineLike(),
    });
    expect(status).toBe('synced');
    expect(out.text.join('')).toBe(
      [
        `Syncing ${CON} (full)`,
        'Patient: done, 1 resource in 1 page',
        'Observation: done, 30 resources in 3 pages',
        `synced ${CON}: 31 resources (31 new, 0 changed, 0 deleted), 5 calls in 2.5 s`,
        '',
      ].join('\n'),
    );
    const [job] = await runtime.jobs.list({ connectionId: CON, limit: 5 });
    expect(job).toMatchObject({ kind: 'sync', status: 'succeeded', payload: { mode: 'full' } });
    expect(job?.progress).toMatchObject({ types: types('done') });
  });

  it('a partial sync says which type did not complete and why, and exits as partial', async () => {
    const out = capture();
    const status = await runSyncCommand(runtime, CON, {
      out: out.stream,
      err: capture().stream,
      handler: {
        async run() {
          return {
            outcome: 'partial',
            startedAt: 1_000,
            finishedAt: 3_500,
            totals: { resources: 31, inserted: 31, updated: 0, deleted: 0, calls: 5 },
            notes: ['DocumentReference: timed out (no answer within its deadline of 2 s)'],
          };
        },
      },
    });
    expect(status).toBe('partial');
    expect(out.text.join('')).toContain(
      [
        `synced in part ${CON}: 31 resources (31 new, 0 changed, 0 deleted), 5 calls in 2.5 s`,
        '  DocumentReference: timed out (no answer within its deadline of 2 s)',
        '  the next sync tries again what did not complete',
        '',
      ].join('\n'),
    );
  });

  it('an attempt that ended in part is said so, and the retry follows', async () => {
    await runtime.close();
    runtime = await createRuntime({
      config: loadConfig({
        env: {},
        base: sandboxDefaults('http://127.0.0.1:9'),
        overrides: {
          dataDir: mkdtempSync(join(root, 'rt-')),
          logLevel: 'silent',
          sync: { retryDelayMs: 0 },
        },
      }),
      logger: createLogger({ level: 'silent' }),
    });
    await runtime.store.connections.insert(connection({ id: CON }));
    const out = capture();
    let attempt = 0;
    const status = await runSyncCommand(runtime, CON, {
      out: out.stream,
      err: capture().stream,
      handler: {
        async run() {
          attempt++;
          if (attempt === 1) {
            throw new BridgeError('upstream_error', 'partial: DocumentReference: timed out (x)');
          }
          return { totals: { resources: 3, inserted: 3, updated: 0, deleted: 0, calls: 2 } };
        },
      },
    });
    expect(status).toBe('synced');
    expect(out.text.join('')).toMatch(
      /attempt 1 of 5 ended in part: DocumentReference: timed out \(x\); retrying at \d{4}-/,
    );
  });

  it('joins the sync already queued for the connection instead of starting another', async () => {
    const { job } = await requestSync(runtime.jobs, CON);
    const runs: string[] = [];
    const err = capture();
    await runSyncCommand(runtime, CON, {
      out: capture().stream,
      err: err.stream,
      handler: engineLike(runs),
    });
    expect(runs).toEqual([job.id]);
    expect(err.text.join('')).toContain('already queued: joining it');
    expect(await runtime.jobs.list({ connectionId: CON, limit: 5 })).toHaveLength(1);
  });

  it('with the queue on Redis (BullMQ), says when no worker serves it; Ctrl+C stops following and leaves the sync queued', async () => {
    // The runtime's queue as BullMQ presents it: only workers run jobs, and none runs now.
    const onRedis: Runtime = {
      ...runtime,
      jobs: { ...runtime.jobs, claimsById: false, workers: async () => 0 },
    };
    const out = capture();
    const err = capture();
    const stop = new AbortController();
    const following = runSyncCommand(onRedis, CON, {
      out: out.stream,
      err: err.stream,
      signal: stop.signal,
      handler: engineLike(['must not run here']),
    });
    while (!out.text.join('').includes('no worker serves the job queue')) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    stop.abort();
    expect(await following).toBe('stopped');
    expect(err.text.join('')).toContain('its workers run the sync');
    expect(err.text.join('')).toContain(`stopped following; the sync of ${CON} goes on`);
    const [job] = await runtime.jobs.list({ connectionId: CON, limit: 5 });
    expect(job).toMatchObject({ status: 'queued', attempts: 0 });
  });

  it('takes over a sync whose process died (its lease lapsed)', async () => {
    const { job } = await requestSync(runtime.jobs, CON);
    // Claimed by a process that was then killed: its lease has lapsed by now.
    const now = runtime.clock.now();
    await runtime.store.jobs.claim({
      owner: 'dead-process',
      now,
      leaseUntil: now - 1,
      jobId: job.id,
    });
    const runs: string[] = [];
    const out = capture();
    const status = await runSyncCommand(runtime, CON, {
      out: out.stream,
      err: capture().stream,
      handler: engineLike(runs),
    });
    expect(status).toBe('synced');
    expect(runs).toEqual([job.id]);
    expect(out.text.join('')).not.toContain('another process');
    expect(await runtime.jobs.get(job.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('follows a sync another live process runs, to its end', async () => {
    const { job } = await requestSync(runtime.jobs, CON);
    await runtime.jobs.claim('server', { jobId: job.id });
    const out = capture();
    const following = runSyncCommand(runtime, CON, {
      out: out.stream,
      err: capture().stream,
      handler: engineLike(['must not run here']),
    });
    // The server's worker writes progress, keeps its lease, then completes.
    await runtime.jobs.heartbeat(job.id, 'server', {
      runId: job.id,
      connectionId: CON,
      mode: 'auto',
      types: types('done'),
      startedAt: 0,
    });
    await runtime.jobs.complete(job.id, 'server', {
      totals: { resources: 31, inserted: 0, updated: 0, deleted: 0, calls: 4 },
    });
    expect(await following).toBe('synced');
    expect(out.text.join('')).toContain('Observation: done, 30 resources in 3 pages');
  });

  it('fails with the reason, and refuses a connection that cannot sync', async () => {
    const err = capture();
    const status = await runSyncCommand(runtime, CON, {
      out: capture().stream,
      err: err.stream,
      handler: {
        run: async () => {
          throw new BridgeError('revoked', `connection ${CON} is revoked (consent withdrawn)`);
        },
        retryable: () => false,
      },
    });
    expect(status).toBe('failed');
    expect(err.text.join('')).toMatch(
      new RegExp(
        `the sync of ${CON} failed: connection ${CON} is revoked \\(consent withdrawn\\) \\(job job_\\S+, 1 attempt\\)`,
      ),
    );

    await runtime.store.connections.update(CON, {
      state: 'expired',
      stateReason: 'refresh token ended',
    });
    await expect(runSyncCommand(runtime, CON, { out: capture().stream })).rejects.toThrow(
      /is expired \(refresh token ended\): it cannot sync/,
    );
    await expect(runSyncCommand(runtime, 'con_nonexistent0000')).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('stops at a checkpoint on Ctrl+C and leaves the job to resume', async () => {
    const stop = new AbortController();
    const err = capture();
    const status = await runSyncCommand(runtime, CON, {
      out: capture().stream,
      err: err.stream,
      signal: stop.signal,
      handler: {
        run: (_job, { signal }) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener('abort', () => reject(signal.reason), { once: true });
            stop.abort();
          }),
      },
    });
    expect(status).toBe('stopped');
    expect(err.text.join('')).toContain('resumes from its last checkpoint');
    const [job] = await runtime.jobs.list({ connectionId: CON, limit: 1 });
    expect(job).toMatchObject({ status: 'queued', attempts: 0 });
  });
});
