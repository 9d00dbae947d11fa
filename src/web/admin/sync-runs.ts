// Every connection's sync runs for the dashboard: the latest sync jobs, newest first, with their
// status and counts, and a server-sent event stream that sends the list again whenever any of
// them changes (read from the job rows, whichever process runs them).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { realTimers, type Timers } from '../../common/timers.ts';
import type { JobQueue } from '../../jobs/port.ts';
import { modeOf, SYNC_JOB } from '../../jobs/sync-job.ts';
import { streamProgress } from './event-stream.ts';

export interface SyncRunRow {
  id: string;
  connectionId: string | null;
  status: string;
  mode: string;
  attempts: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Types finished of the types planned (0 of 0 before it starts). */
  typesDone: number;
  typesTotal: number;
  resources: number;
  pages: number;
  error: string | null;
}

interface TypeProgress {
  status?: string;
  resources?: number;
  pages?: number;
}

export function syncRunRow(job: Awaited<ReturnType<JobQueue['list']>>[number]): SyncRunRow {
  const types = Object.values(
    ((job.progress ?? {}) as { types?: Record<string, TypeProgress> }).types ?? {},
  );
  return {
    id: job.id,
    connectionId: job.connectionId,
    status: job.status,
    mode: modeOf(job),
    attempts: job.attempts,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    typesDone: types.filter((t) => t.status === 'done' || t.status === 'skipped').length,
    typesTotal: types.length,
    resources: types.reduce((n, t) => n + (t.resources ?? 0), 0),
    pages: types.reduce((n, t) => n + (t.pages ?? 0), 0),
    error: job.lastError,
  };
}

export async function listSyncRuns(jobs: JobQueue, limit = 50): Promise<SyncRunRow[]> {
  return (await jobs.list({ kind: SYNC_JOB, limit })).map(syncRunRow);
}

/** `progress` with every listed run each time one changes; the page redraws those it shows. */
export async function streamSyncRuns(
  request: FastifyRequest,
  reply: FastifyReply,
  { jobs, timers = realTimers, pollMs = 500 }: { jobs: JobQueue; timers?: Timers; pollMs?: number },
): Promise<void> {
  await streamProgress(request, reply, { timers, pollMs, read: () => listSyncRuns(jobs) });
}
