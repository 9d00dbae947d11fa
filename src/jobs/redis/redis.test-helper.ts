// Tests on the real Redis (127.0.0.1:6379, or FHIRBRIDGE_TEST_REDIS): each gets a key prefix of
// its own, deleted when it closes, so concurrent runs never see each other's keys.
import { Redis } from 'ioredis';
import { randomToken } from '../../common/random.ts';

export const TEST_REDIS_URL = process.env.FHIRBRIDGE_TEST_REDIS ?? 'redis://127.0.0.1:6379';

export interface TestRedis {
  redis: Redis;
  /** Hash-tagged, unique to this test. */
  prefix: string;
  /** Another connection, as a second process would have. */
  connect(): Redis;
  close(): Promise<void>;
}

export function openTestRedis(url = TEST_REDIS_URL): TestRedis {
  const prefix = `fhirbridge-test:{${randomToken(8)}}:`;
  const connections: Redis[] = [];
  const connect = () => {
    const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2 });
    connections.push(redis);
    return redis;
  };
  const redis = connect();
  return {
    redis,
    prefix,
    connect,
    async close() {
      const keys = await redis.keys(`${prefix.replace(/[{}*?[\]]/g, '\\$&')}*`);
      if (keys.length > 0) await redis.del(...keys);
      await Promise.all(connections.map((c) => c.quit()));
    },
  };
}
