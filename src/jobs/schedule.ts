// Scheduled syncs: every check, each active connection without a queued or running sync gets one,
// due `intervalMs` after its last sync ended (or at once after connecting, when `onConnect`).
// A due time in the future is simply the job's runAt: the queue holds it until then.

import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { realTimers, type Timers } from '../common/timers.ts';
import type { ConnectionRecord, Store } from '../store/port.ts';
import type { JobQueue } from './port.ts';
import { latestSync, requestSync } from './sync-job.ts';

export interface SyncScheduleDeps {
  store: Pick<Store, 'connections'>;
  queue: JobQueue;
  clock: Clock;
  logger: Logger;
  timers?: Timers;
  /** Re-sync this long after the last sync ended; 0 = no scheduled re-syncs. */
  intervalMs: number;
  /** After a sync that failed for good, the next is due this long after (at most `intervalMs`). */
  retryAfterFailureMs?: number;
  /** Sync a connection that never synced as soon as it is connected. */
  onConnect: boolean;
  /** How often to look. */
  checkIntervalMs: number;
  /** Connections read per page of the scan. */
  pageSize?: number;
  /** After each enqueue of a job due now (wakes this process's worker). */
  onDue?(): void;
}

export interface SyncSchedule {
  /** One pass; returns how many syncs it enqueued. */
  runOnce(): Promise<number>;
  start(): void;
  close(): Promise<void>;
}

/** When `connection` should next sync, or undefined when nothing is to be scheduled. */
export async function nextSyncAt(
  queue: JobQueue,
  connection: ConnectionRecord,
  {
    intervalMs,
    onConnect,
    retryAfterFailureMs = 0,
  }: { intervalMs: number; onConnect: boolean; retryAfterFailureMs?: number },
): Promise<number | undefined> {
  const last = await latestSync(queue, connection.id);
  if (!last) return onConnect ? (connection.connectedAt ?? connection.updatedAt) : undefined;
  if (last.status === 'queued' || last.status === 'running') return undefined;
  if (intervalMs <= 0) return undefined;
  const ended = last.finishedAt ?? last.updatedAt;
  // A sync that failed for good left the record behind: not worth a whole interval's wait.
  if (last.status === 'failed' && retryAfterFailureMs > 0) {
    return ended + Math.min(retryAfterFailureMs, intervalMs);
  }
  return ended + intervalMs;
}

export function createSyncSchedule({
  store,
  queue,
  clock,
  logger,
  timers = realTimers,
  intervalMs,
  retryAfterFailureMs = 0,
  onConnect,
  checkIntervalMs,
  pageSize = 500,
  onDue,
}: SyncScheduleDeps): SyncSchedule {
  let timer: unknown;
  let running: Promise<unknown> | undefined;
  let closed = false;

  async function runOnce(): Promise<number> {
    let enqueued = 0;
    for (let offset = 0; ; offset += pageSize) {
      const page = await store.connections.list({ limit: pageSize, offset });
      for (const connection of page) {
        if (connection.state !== 'active') continue;
        const at = await nextSyncAt(queue, connection, {
          intervalMs,
          onConnect,
          retryAfterFailureMs,
        });
        if (at === undefined) continue;
        const { created } = await requestSync(queue, connection.id, { runAt: at });
        if (!created) continue;
        enqueued++;
        if (at <= clock.now()) onDue?.();
      }
      if (page.length < pageSize) return enqueued;
    }
  }

  const schedule = () => {
    if (closed) return;
    timer = timers.setTimeout(() => {
      running = runOnce()
        .catch((error: unknown) => logger.warn({ err: error }, 'sync schedule check failed'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, checkIntervalMs);
  };

  return {
    runOnce,
    start() {
      if (intervalMs <= 0 && !onConnect) return;
      schedule();
    },
    async close() {
      closed = true;
      timers.clearTimeout(timer);
      await running;
    },
  };
}
