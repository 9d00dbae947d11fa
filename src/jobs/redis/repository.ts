// The job rows on Redis: the JobRepository port (src/store/port-jobs.ts) as atomic Lua scripts, so
// that the API and worker processes of a scale-out deployment share one queue. The queue logic
// itself (backoff, release, lapsed failures) stays in store-queue.ts, the same for every backend.
import type { Redis } from 'ioredis';
import { BridgeError } from '../../common/errors.ts';
import type { JobRecord, JobRepository, JobStatus } from '../../store/port-jobs.ts';
import {
  CANCEL,
  CLAIM,
  FINISH,
  HEARTBEAT,
  INSERT_UNIQUE,
  REQUEUE,
  TAKE_LAPSED,
} from './scripts.ts';

const SCRIPTS = {
  jobsInsertUnique: INSERT_UNIQUE,
  jobsClaim: CLAIM,
  jobsHeartbeat: HEARTBEAT,
  jobsFinish: FINISH,
  jobsRequeue: REQUEUE,
  jobsCancel: CANCEL,
  jobsTakeLapsed: TAKE_LAPSED,
} as const;

type ScriptName = keyof typeof SCRIPTS;
type Call = (name: ScriptName, args: readonly string[]) => Promise<unknown>;

export interface RedisJobRepositoryOptions {
  redis: Redis;
  /**
   * Every key starts with it. Keep one `{...}` hash tag in it so all of the queue's keys share a
   * slot; a test run or a second deployment on the same Redis takes its own.
   */
  prefix?: string;
}

export const DEFAULT_JOBS_PREFIX = 'fhirbridge:{jobs}:';

const NUMBER_FIELDS = [
  'attempts',
  'maxAttempts',
  'runAt',
  'leaseUntil',
  'createdAt',
  'updatedAt',
  'startedAt',
  'finishedAt',
] as const;

function toHash(job: JobRecord): string[] {
  const fields: Record<string, string | null> = {
    id: job.id,
    kind: job.kind,
    key: job.key,
    connectionId: job.connectionId,
    payload: JSON.stringify(job.payload),
    status: job.status,
    progress: job.progress === null ? null : JSON.stringify(job.progress),
    result: job.result === null ? null : JSON.stringify(job.result),
    lastError: job.lastError,
    leaseOwner: job.leaseOwner,
  };
  for (const name of NUMBER_FIELDS) {
    const value = job[name];
    fields[name] = value === null ? null : String(value);
  }
  return Object.entries(fields).flatMap(([name, value]) => (value === null ? [] : [name, value]));
}

/** A job's hash as HGETALL returns it to a script: [field, value, field, value, ...]. */
function fromPairs(pairs: readonly string[]): JobRecord {
  const h = new Map<string, string>();
  for (let i = 0; i + 1 < pairs.length; i += 2) h.set(pairs[i] as string, pairs[i + 1] as string);
  return fromHash(h);
}

function fromHash(h: ReadonlyMap<string, string>): JobRecord {
  const text = (name: string) => h.get(name) ?? null;
  const num = (name: string) => {
    const value = h.get(name);
    return value === undefined ? null : Number(value);
  };
  const json = (name: string) => {
    const value = h.get(name);
    return value === undefined ? null : (JSON.parse(value) as Record<string, unknown>);
  };
  return {
    id: text('id') as string,
    kind: text('kind') as string,
    key: text('key'),
    connectionId: text('connectionId'),
    payload: json('payload') ?? {},
    status: text('status') as JobStatus,
    attempts: num('attempts') ?? 0,
    maxAttempts: num('maxAttempts') ?? 1,
    runAt: num('runAt') ?? 0,
    leaseOwner: text('leaseOwner'),
    leaseUntil: num('leaseUntil'),
    progress: json('progress'),
    result: json('result'),
    lastError: text('lastError'),
    createdAt: num('createdAt') ?? 0,
    updatedAt: num('updatedAt') ?? 0,
    startedAt: num('startedAt'),
    finishedAt: num('finishedAt'),
  };
}

/** Scripts run by their SHA; a Redis that restarted (and forgot them) is sent the source again. */
function scriptCaller(redis: Redis, prefix: string): Call {
  const shas = new Map<ScriptName, string>();
  return async (name, args) => {
    let sha = shas.get(name);
    if (sha === undefined) {
      sha = (await redis.script('LOAD', SCRIPTS[name])) as string;
      shas.set(name, sha);
    }
    try {
      return await redis.evalsha(sha, 1, prefix, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      shas.delete(name);
      return redis.eval(SCRIPTS[name], 1, prefix, ...args);
    }
  };
}

export function createRedisJobRepository({
  redis,
  prefix = DEFAULT_JOBS_PREFIX,
}: RedisJobRepositoryOptions): JobRepository {
  const call = scriptCaller(redis, prefix);
  const jobKey = (id: string) => `${prefix}job:${id}`;

  async function get(id: string): Promise<JobRecord | undefined> {
    const hash = await redis.hgetall(jobKey(id));
    return Object.keys(hash).length === 0 ? undefined : fromHash(new Map(Object.entries(hash)));
  }

  return {
    async insertUnique(job) {
      const [created, pairs] = (await call('jobsInsertUnique', [
        job.id,
        job.key ?? '',
        String(job.runAt),
        JSON.stringify(job.payload),
        String(job.updatedAt),
        String(job.createdAt),
        job.status,
        job.connectionId ?? '',
        job.leaseUntil === null ? '' : String(job.leaseUntil),
        ...toHash(job),
      ])) as [number, string[]];
      if (created === -1) throw new BridgeError('conflict', 'job already exists');
      return { job: fromPairs(pairs), created: created === 1 };
    },
    async claim({ owner, now, leaseUntil, kinds, jobId }) {
      const pairs = (await call('jobsClaim', [
        owner,
        String(now),
        String(leaseUntil),
        jobId ?? '',
        kinds ? JSON.stringify(kinds) : '',
      ])) as string[];
      return pairs.length === 0 ? undefined : fromPairs(pairs);
    },
    async heartbeat(id, owner, { leaseUntil, now, progress }) {
      const held = await call('jobsHeartbeat', [
        id,
        owner,
        String(leaseUntil),
        String(now),
        progress === undefined ? '' : JSON.stringify(progress),
      ]);
      return held === 1;
    },
    async finish(id, owner, { status, now, result, error }) {
      const ended = await call('jobsFinish', [
        id,
        owner,
        status,
        String(now),
        result === undefined ? '' : JSON.stringify(result),
        error ?? '',
      ]);
      return ended === 1;
    },
    async requeue(id, owner, { runAt, now, error, refundAttempt }) {
      const queued = await call('jobsRequeue', [
        id,
        owner,
        String(runAt),
        String(now),
        error ?? '',
        refundAttempt ? '1' : '0',
      ]);
      return queued === 1;
    },
    async cancel(id, now) {
      return (await call('jobsCancel', [id, String(now)])) === 1;
    },
    get,
    async list({ kind, connectionId, status, limit }) {
      // Newest first from the index (per connection when asked), filtered here in batches.
      const index =
        connectionId === undefined ? `${prefix}created` : `${prefix}conn:${connectionId}`;
      const out: JobRecord[] = [];
      const batch = Math.max(limit, 100);
      for (let start = 0; out.length < limit; start += batch) {
        const members = await redis.zrevrange(index, start, start + batch - 1);
        if (members.length === 0) break;
        const pipeline = redis.pipeline();
        for (const m of members) pipeline.hgetall(jobKey(m.slice(m.indexOf(':') + 1)));
        for (const [error, hash] of (await pipeline.exec()) ?? []) {
          if (error) throw error;
          const fields = Object.entries(hash as Record<string, string>);
          if (fields.length === 0) continue;
          const job = fromHash(new Map(fields));
          if (kind !== undefined && job.kind !== kind) continue;
          if (status !== undefined && !status.includes(job.status)) continue;
          out.push(job);
          if (out.length === limit) break;
        }
      }
      return out;
    },
    async takeLapsedFailures(now) {
      const hashes = (await call('jobsTakeLapsed', [String(now)])) as string[][];
      return hashes.filter((pairs) => pairs.length > 0).map(fromPairs);
    },
  };
}
