// The Redis job backend: one connection per process, the job rows on it, and its ping for
// /readyz. ioredis reconnects by itself after Redis restarts; commands sent meanwhile wait in its
// offline queue, and those that still fail surface as errors the worker logs and retries.
import { Redis } from 'ioredis';
import type { JobRepository } from '../../store/port-jobs.ts';
import { createRedisJobRepository, DEFAULT_JOBS_PREFIX } from './repository.ts';

export { createRedisJobRepository, DEFAULT_JOBS_PREFIX } from './repository.ts';

export interface RedisJobBackend {
  repo: JobRepository;
  ping(): Promise<unknown>;
  close(): Promise<void>;
}

export async function openRedisJobs({
  url,
  prefix = DEFAULT_JOBS_PREFIX,
}: {
  /** redis://[user:password@]host:port[/db], or rediss:// for TLS. */
  url: string;
  prefix?: string;
}): Promise<RedisJobBackend> {
  const redis = new Redis(url, {
    lazyConnect: true,
    // Reconnect forever, at most a second apart: a Redis restart must not end the process.
    retryStrategy: (times) => Math.min(times * 100, 1_000),
    maxRetriesPerRequest: 3,
  });
  // Errors reach the callers of each command; the client's own event would only crash the process.
  redis.on('error', () => {});
  await redis.connect();
  return {
    repo: createRedisJobRepository({ redis, prefix }),
    ping: () => redis.ping(),
    async close() {
      // QUIT waits for a connection; while Redis is away there is none to wait for.
      if (redis.status !== 'ready') redis.disconnect();
      else await redis.quit().catch(() => redis.disconnect());
    },
  };
}
