// `fhirbridge sync <connection> [--mode full]`: queues a sync like the API does and sees it
// through in this process (or follows the process that already runs it), with a live progress
// bar per resource type. Ctrl+C stops at the next checkpoint; the next run resumes there. With
// the job queue on BullMQ (Redis), the workers run every sync and the command follows it.
import type { Command } from 'commander';
import { syncEngineOf } from '../background.ts';
import { BridgeError } from '../common/errors.ts';
import { type FollowNotice, followJob } from '../jobs/follow.ts';
import type { JobHandler } from '../jobs/index.ts';
import { SYNC_MODES, type SyncMode, syncJobHandler } from '../jobs/sync-job.ts';
import { workerOwner } from '../jobs/worker.ts';
import { queueSync } from '../records/sync-status.ts';
import type { Runtime } from '../runtime.ts';
import type { SyncProgress, SyncResult } from '../sync/index.ts';
import { createProgressView, type ProgressOutput } from './progress.ts';

export interface SyncCommandOptions {
  mode?: SyncMode;
  out?: ProgressOutput;
  err?: { write(text: string): unknown };
  /** Ctrl+C. */
  signal?: AbortSignal;
  /** The engine's job handler; the runtime's sync engine by default (tests pass a fake). */
  handler?: JobHandler;
  /** Redraws per second of the terminal bars. */
  fps?: number;
}

/**
 * Why it ended, for the exit code: 0 synced, 2 synced in part (some types did not complete),
 * 1 failed, 130 stopped by the user.
 */
export type SyncCommandStatus = 'synced' | 'partial' | 'failed' | 'stopped';

const when = (ms: number) => new Date(ms).toISOString();

function describe(notice: FollowNotice): string {
  switch (notice.kind) {
    case 'elsewhere':
      return `another process (${notice.job.leaseOwner}) is running this sync; following its progress`;
    case 'retrying':
      // A partial attempt says so itself ("partial: Type: timed out (…)").
      return `attempt ${notice.job.attempts} of ${notice.job.maxAttempts} ${notice.error.startsWith('partial: ') ? 'ended in part' : 'failed'}: ${notice.error.replace(/^partial: /, '')}; retrying at ${when(notice.job.runAt)}`;
    case 'waiting':
      return `the sync is queued for ${when(notice.job.runAt)}`;
    case 'no-worker':
      return 'no worker serves the job queue: the sync waits until one starts (`fhirbridge serve --role worker`, or `fhirbridge start`); Ctrl+C stops waiting and leaves it queued';
  }
}

/** The last lines: what was synced, and per type that did not complete, what and why. */
export function summary(connectionId: string, result: Partial<SyncResult> | null): string {
  const t = result?.totals;
  if (!t) return `synced ${connectionId}`;
  const seconds =
    result.finishedAt && result.startedAt
      ? ` in ${((result.finishedAt - result.startedAt) / 1000).toFixed(1)} s`
      : '';
  const partial = result.outcome === 'partial';
  const head =
    `${partial ? 'synced in part' : 'synced'} ${connectionId}: ` +
    `${t.resources.toLocaleString('en-US')} resources ` +
    `(${t.inserted} new, ${t.updated} changed, ${t.deleted} deleted), ` +
    `${t.calls} calls${seconds}`;
  const notes = result.notes ?? [];
  if (notes.length === 0) return head;
  const hint = partial ? '\n  the next sync tries again what did not complete' : '';
  return `${head}\n${notes.map((n) => `  ${n}`).join('\n')}${hint}`;
}

export async function runSyncCommand(
  runtime: Runtime,
  connectionId: string,
  {
    mode = 'auto',
    out = process.stdout,
    err = process.stderr,
    signal,
    handler,
    fps,
  }: SyncCommandOptions = {},
): Promise<SyncCommandStatus> {
  const { job, created } = await queueSync(runtime, connectionId, mode);
  if (!created) err.write(`a sync of ${connectionId} is already ${job.status}: joining it\n`);
  if (!runtime.jobs.claimsById) {
    err.write('the job queue is on Redis: its workers run the sync; following its progress\n');
  }

  const view = createProgressView({
    out,
    title: `Syncing ${connectionId} (${String(job.payload.mode ?? mode)})`,
    ...(fps === undefined ? {} : { fps }),
  });
  let result: Awaited<ReturnType<typeof followJob>>;
  try {
    result = await followJob(job.id, {
      queue: runtime.jobs,
      handler: handler ?? syncJobHandler(syncEngineOf(runtime)),
      owner: workerOwner(),
      clock: runtime.clock,
      logger: runtime.logger,
      progressIntervalMs: runtime.config.sync.progressIntervalMs,
      ...(signal ? { signal } : {}),
      onProgress: (p) => view.update(p as unknown as SyncProgress),
      onNotice: (n) => view.note(describe(n)),
    });
  } finally {
    view.finish();
  }

  switch (result.status) {
    case 'succeeded': {
      const synced = result.job.result as Partial<SyncResult> | null;
      out.write(`${summary(connectionId, synced)}\n`);
      return synced?.outcome === 'partial' ? 'partial' : 'synced';
    }
    case 'stopped':
      err.write(
        runtime.jobs.claimsById
          ? `stopped; the sync of ${connectionId} resumes from its last checkpoint on the next run\n`
          : `stopped following; the sync of ${connectionId} goes on in the workers\n`,
      );
      return 'stopped';
    default:
      err.write(
        `fhirbridge: the sync of ${connectionId} ${result.status === 'cancelled' ? 'was cancelled' : 'failed'}` +
          `${result.job.lastError ? `: ${result.job.lastError}` : ''}` +
          ` (job ${result.job.id}, ${result.job.attempts} attempt${result.job.attempts === 1 ? '' : 's'})\n`,
      );
      return 'failed';
  }
}

export function registerSyncCommand(
  program: Command,
  withRuntime: <T>(fn: (rt: Runtime) => Promise<T>) => Promise<T>,
): void {
  program
    .command('sync')
    .argument('<connection>', 'connection id (see `fhirbridge connections list`)')
    .option(
      '--mode <mode>',
      `${SYNC_MODES.join(', ')}: full finds deletions, incremental asks for changes`,
      'auto',
    )
    .description("pull the patient's record into the store now, with progress per type")
    .action(async (connectionId: string, opts: { mode: string }) => {
      if (!SYNC_MODES.includes(opts.mode as SyncMode)) {
        throw new BridgeError(
          'invalid_request',
          `--mode must be one of ${SYNC_MODES.join(', ')}, not "${opts.mode}"`,
        );
      }
      const stop = new AbortController();
      const onSignal = () => stop.abort(new Error('interrupted'));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const status = await withRuntime((rt) =>
          runSyncCommand(rt, connectionId, { mode: opts.mode as SyncMode, signal: stop.signal }),
        );
        if (status !== 'synced') {
          process.exitCode = status === 'stopped' ? 130 : status === 'partial' ? 2 : 1;
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
