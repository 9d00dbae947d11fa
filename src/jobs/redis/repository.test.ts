// The Redis job repository against the real Redis: the jobs contract every store adapter passes,
// plus what only several processes show (one claim wins, a key survives a reconnect).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { job, jobsContract } from '../../store/jobs.contract.ts';
import type { JobRepository } from '../../store/port-jobs.ts';
import { openTestRedis, type TestRedis } from './redis.test-helper.ts';
import { createRedisJobRepository } from './repository.ts';

const T0 = Date.UTC(2026, 0, 1);

describe('redis job repository', () => {
  let redis: TestRedis;
  let repo: JobRepository;
  beforeEach(() => {
    redis = openTestRedis();
    repo = createRedisJobRepository({ redis: redis.redis, prefix: redis.prefix });
  });
  afterEach(async () => {
    await redis.close();
  });

  jobsContract(() => ({ jobs: repo }));

  it('gives a due job to exactly one of many processes claiming at once', async () => {
    const processes = Array.from({ length: 6 }, () =>
      createRedisJobRepository({ redis: redis.connect(), prefix: redis.prefix }),
    );
    for (let i = 0; i < 3; i++) await repo.insertUnique(job({ id: `job_${i}`, key: `k${i}` }));
    const claims = await Promise.all(
      processes.flatMap((p, n) =>
        [1, 2].map((k) => p.claim({ owner: `w${n}.${k}`, now: T0, leaseUntil: T0 + 10 })),
      ),
    );
    const taken = claims.filter((c) => c !== undefined).map((c) => c.id);
    expect(taken.sort()).toEqual(['job_0', 'job_1', 'job_2']);
  });

  it('keeps empty arrays and nested values of progress and result as written', async () => {
    await repo.insertUnique(job());
    await repo.claim({ owner: 'w1', now: T0, leaseUntil: T0 + 10 });
    const progress = { types: {}, skipped: [], notes: [] };
    await repo.heartbeat('job_1', 'w1', { leaseUntil: T0 + 20, now: T0 + 1, progress });
    await repo.finish('job_1', 'w1', { status: 'succeeded', now: T0 + 2, result: { notes: [] } });
    expect(await repo.get('job_1')).toMatchObject({ progress, result: { notes: [] } });
  });

  it('runs its scripts again after Redis forgot them (a restart)', async () => {
    await repo.insertUnique(job());
    await redis.redis.script('FLUSH');
    expect(await repo.claim({ owner: 'w1', now: T0, leaseUntil: T0 + 10 })).toMatchObject({
      id: 'job_1',
      leaseOwner: 'w1',
    });
  });

  it('refuses a second job with the same id', async () => {
    await repo.insertUnique(job({ key: null }));
    await expect(repo.insertUnique(job({ key: null }))).rejects.toMatchObject({ code: 'conflict' });
  });
});
