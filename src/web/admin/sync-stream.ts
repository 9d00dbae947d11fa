// Live sync progress for the dashboard as server-sent events: the connection's latest sync job,
// read from the job row (whichever process runs it) every `pollMs`, one `progress` event per
// change, and `end` once the job has finished.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { realTimers, type Timers } from '../../common/timers.ts';
import type { JobQueue } from '../../jobs/port.ts';
import { latestSync } from '../../jobs/sync-job.ts';
import { viewSync } from '../../records/sync-status.ts';
import { streamProgress } from './event-stream.ts';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled', 'never']);

export interface SyncStreamOptions {
  jobs: JobQueue;
  timers?: Timers;
  pollMs?: number;
}

/** What one event carries: the job's status and, per type, its status, outcome and count. */
export async function syncSnapshot(jobs: JobQueue, connectionId: string) {
  const view = viewSync(connectionId, await latestSync(jobs, connectionId));
  const types = Object.entries(view.progress?.types ?? {}).map(([type, t]) => ({
    type,
    status: t.status,
    outcome: t.outcome ?? null,
    resources: t.resources,
    pages: t.pages,
  }));
  return { status: view.status, error: view.job?.error ?? null, types };
}

export async function streamSync(
  request: FastifyRequest,
  reply: FastifyReply,
  connectionId: string,
  { jobs, timers = realTimers, pollMs = 500 }: SyncStreamOptions,
): Promise<void> {
  await streamProgress(request, reply, {
    timers,
    pollMs,
    read: () => syncSnapshot(jobs, connectionId),
    finished: (snapshot) => FINISHED.has(snapshot.status),
  });
}
