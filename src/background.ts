// The background work of a server process: the job worker (syncs), the sync schedule, the
// webhook dispatcher and the connection-expiring check. `close()` stops them, letting a running
// sync stop at its next checkpoint and go back to the queue.
import type { Timers } from './common/timers.ts';
import { createExpiryNotices, type ExpiryNotices } from './events/expiring.ts';
import {
  createSyncSchedule,
  createWorker,
  SYNC_JOB,
  type SyncSchedule,
  syncJobHandler,
  type Worker,
} from './jobs/index.ts';
import { observeSyncRuns } from './metrics/index.ts';
import type { Runtime } from './runtime.ts';
import { createSyncEngine, type SyncEngine } from './sync/index.ts';

export interface Background {
  /** Absent when `sync.concurrency` is 0 (this process runs no jobs). */
  worker: Worker | undefined;
  schedule: SyncSchedule;
  expiry: ExpiryNotices;
  close(): Promise<void>;
}

/** The sync engine of a runtime: the one the worker and the `sync` command run. */
export function syncEngineOf(runtime: Runtime): SyncEngine {
  const { requestTimeoutMs, typeDeadlineMs, refusalTtlMs } = runtime.config.sync;
  return observeSyncRuns(
    createSyncEngine(runtime, { requestTimeoutMs, typeDeadlineMs, refusalTtlMs }),
    runtime.metrics,
    runtime.clock,
  );
}

export function startBackground(
  runtime: Runtime,
  { timers }: { timers?: Timers } = {},
): Background {
  const { config, clock, logger, store, jobs } = runtime;
  const worker =
    config.sync.concurrency > 0
      ? createWorker({
          queue: jobs,
          handlers: { [SYNC_JOB]: syncJobHandler(syncEngineOf(runtime)) },
          clock,
          logger,
          concurrency: config.sync.concurrency,
          pollIntervalMs: config.sync.pollIntervalMs,
          progressIntervalMs: config.sync.progressIntervalMs,
          ...(timers ? { timers } : {}),
        })
      : undefined;
  const schedule = createSyncSchedule({
    store,
    queue: jobs,
    clock,
    logger,
    intervalMs: config.sync.intervalMs,
    retryAfterFailureMs: config.sync.retryAfterFailureMs,
    onConnect: config.sync.onConnect,
    checkIntervalMs: config.sync.checkIntervalMs,
    onDue: () => worker?.wake(),
    ...(timers ? { timers } : {}),
  });
  const expiry = createExpiryNotices({
    store,
    clock,
    logger,
    noticeDays: config.connectionExpiry.noticeDays,
    checkIntervalMs: config.connectionExpiry.checkIntervalMs,
    ...(timers ? { timers } : {}),
  });
  worker?.start();
  schedule.start();
  expiry.start();
  runtime.webhooks.dispatcher.start();
  return {
    worker,
    schedule,
    expiry,
    async close() {
      await schedule.close();
      await expiry.close();
      await worker?.close();
      // Last, so that the events of the syncs that just stopped still go out when they can.
      await runtime.webhooks.dispatcher.close();
    },
  };
}
