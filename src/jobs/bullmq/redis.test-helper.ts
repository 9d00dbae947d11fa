// Tests on the real Redis (127.0.0.1:6379, or FHIRBRIDGE_TEST_REDIS): each gets a BullMQ prefix of
// its own, whose keys are deleted when it closes, so concurrent runs never see each other's keys.
import type { Redis } from 'ioredis';
import type { Clock } from '../../common/clock.ts';
import { systemClock } from '../../common/clock.ts';
import { randomToken } from '../../common/random.ts';
import { bullmqConnection } from './index.ts';
import { type BullmqJobQueue, type BullmqQueueOptions, createBullmqJobQueue } from './queue.ts';

export const TEST_REDIS_URL = process.env.FHIRBRIDGE_TEST_REDIS ?? 'redis://127.0.0.1:6379';

export interface TestBullmq {
  /** Hash-tagged, unique to this test. */
  prefix: string;
  redis: Redis;
  /** A queue on a connection of its own, as another process would have. */
  open(options?: Partial<Omit<BullmqQueueOptions, 'connection' | 'prefix'>>): BullmqJobQueue;
  close(): Promise<void>;
}

export function openTestBullmq(defaults: { clock?: Clock; leaseMs?: number } = {}): TestBullmq {
  const prefix = `fhirbridge-test:{${randomToken(8)}}`;
  const connections: Redis[] = [];
  const queues: BullmqJobQueue[] = [];
  const connect = () => {
    const redis = bullmqConnection(TEST_REDIS_URL);
    connections.push(redis);
    return redis;
  };
  const redis = connect();
  return {
    prefix,
    redis,
    open(options = {}) {
      const queue = createBullmqJobQueue({
        connection: connect(),
        prefix,
        kinds: ['sync'],
        clock: defaults.clock ?? systemClock,
        ...(defaults.leaseMs === undefined ? {} : { leaseMs: defaults.leaseMs }),
        ...options,
      });
      queues.push(queue);
      return queue;
    },
    async close() {
      await Promise.all(queues.map((q) => q.close()));
      const keys = await redis.keys(`${prefix.replace(/[{}*?[\]]/g, '\\$&')}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await Promise.all(connections.map((c) => c.quit()));
    },
  };
}
