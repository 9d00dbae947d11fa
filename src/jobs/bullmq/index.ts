// The BullMQ job backend: one Redis client per process shared by its BullMQ queues and workers
// (each worker opens its own blocking connection beside it), the queue on it, and its ping for
// /readyz. ioredis reconnects by itself after Redis restarts; with `maxRetriesPerRequest: null`
// (which BullMQ requires) commands sent meanwhile wait for the connection and then run.
import { Redis } from 'ioredis';
import type { Logger } from '../../common/logger.ts';
import { type BullmqJobQueue, type BullmqQueueOptions, createBullmqJobQueue } from './queue.ts';

export { type BullmqJobQueue, createBullmqJobQueue, DEFAULT_BULLMQ_PREFIX } from './queue.ts';

export interface BullmqJobBackend {
  queue: BullmqJobQueue;
  ping(): Promise<unknown>;
  close(): Promise<void>;
}

/** A client as BullMQ needs it, reconnecting forever at most a second apart. */
export function bullmqConnection(url: string): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(times * 100, 1_000),
  });
  // Errors reach the callers of each command; the client's own event would only crash the process.
  redis.on('error', () => {});
  return redis;
}

export async function openBullmqJobs({
  url,
  logger,
  ...options
}: Omit<BullmqQueueOptions, 'connection' | 'onError'> & {
  /** redis://[user:password@]host:port[/db], or rediss:// for TLS. */
  url: string;
  logger?: Logger;
}): Promise<BullmqJobBackend> {
  const redis = bullmqConnection(url);
  await redis.connect();
  let lastError = '';
  const queue = createBullmqJobQueue({
    ...options,
    connection: redis,
    // BullMQ retries on its own; a message is logged once per change, not once per retry.
    onError: (error) => {
      if (error.message === lastError) return;
      lastError = error.message;
      logger?.warn({ err: error }, 'job queue (BullMQ) error');
    },
  });
  return {
    queue,
    async ping() {
      // While Redis is away commands wait for it; readiness wants an answer now.
      if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`);
      return redis.ping();
    },
    async close() {
      await queue.close();
      // QUIT waits for a connection; while Redis is away there is none to wait for.
      if (redis.status !== 'ready') redis.disconnect();
      else await redis.quit().catch(() => redis.disconnect());
    },
  };
}
