// The JobQueue port on BullMQ: one BullMQ queue per job kind, the job's id our id, its lock our
// lease (the lock token is the owner), BullMQ's stalled check the takeover of a lapsed lease.
// What BullMQ does not keep, a small hash per job holds beside it (its kind, due time, refunded
// claims, last error), with two indexes for listing (by connection, by creation) and the list of
// jobs failed for good because their runner died on the last attempt.
//
// Leases expire on the Redis server's clock: a lease is lost once its lock expired, whether or not
// another process took the job since. The injected clock only dates what this file writes.
import { Job as BullJob, type JobsOptions, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { type ExponentialBackoff, exponentialDelay } from '../../common/backoff.ts';
import type { Clock } from '../../common/clock.ts';
import { randomId } from '../../common/random.ts';
import type { Enqueued, EnqueueRequest, Job, JobQueue, JobStatus } from '../port.ts';

export interface BullmqQueueOptions {
  /** A client with `maxRetriesPerRequest: null` (BullMQ's workers block on it). */
  connection: Redis;
  /** BullMQ's key prefix; keep one `{...}` hash tag in it so all of the queue's keys share a slot. */
  prefix: string;
  /** The job kinds a claim without `kinds` looks at. */
  kinds: readonly string[];
  clock: Clock;
  /** The lock's duration: how long a claim holds without a heartbeat. */
  leaseMs?: number;
  maxAttempts?: number;
  backoff?: ExponentialBackoff;
  /** Logs what BullMQ's queues and workers report in the background (a lost connection). */
  onError?(error: Error): void;
}

export interface BullmqJobQueue extends JobQueue {
  workers(kind: string): Promise<number>;
  close(): Promise<void>;
}

export const DEFAULT_BULLMQ_PREFIX = 'fhirbridge:{jobs}';

/** The port's fields BullMQ's job data carries. */
interface JobData {
  key: string | null;
  connectionId: string | null;
  payload: Record<string, unknown>;
  maxAttempts: number;
}

/** Our hash beside BullMQ's job. */
interface Meta {
  kind?: string;
  runAt?: string;
  refunds?: string;
  lastError?: string;
  owner?: string;
  updatedAt?: string;
}

const LAPSED_ERROR = 'its runner stopped without finishing (lease lapsed) on the last attempt';

/** The BullMQ errors that mean "this owner does not hold the job (any more)". */
const NOT_HELD = /^(Missing (key|lock) for job|Lock mismatch for job|Job \S+ is not in the)/;

function notHeld(error: unknown): boolean {
  return error instanceof Error && NOT_HELD.test(error.message);
}

function statusOf(state: string): JobStatus {
  switch (state) {
    case 'active':
      return 'running';
    case 'completed':
      return 'succeeded';
    case 'failed':
      return 'failed';
    default:
      return 'queued'; // waiting, delayed, prioritized, paused
  }
}

const objectOr = (value: unknown): Record<string, unknown> | null =>
  value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;

export function createBullmqJobQueue({
  connection,
  prefix,
  kinds,
  clock,
  leaseMs = 60_000,
  maxAttempts = 5,
  backoff = { initialMs: 30_000, maxMs: 30 * 60_000 },
  onError = () => {},
}: BullmqQueueOptions): BullmqJobQueue {
  const queues = new Map<string, Queue>();
  const workers = new Map<string, Worker>();
  const metaKey = (id: string) => `${prefix}:job-meta:${id}`;
  const byConnection = (connectionId: string) => `${prefix}:jobs-by-connection:${connectionId}`;
  const byCreation = `${prefix}:jobs-by-creation`;
  const lapsedList = `${prefix}:lapsed`;
  const lapsedTaken = (id: string) => `${prefix}:lapsed-taken:${id}`;
  const defaultJobOptions: JobsOptions = { attempts: 1, stackTraceLimit: 0 };

  function queueOf(kind: string): Queue {
    let queue = queues.get(kind);
    if (!queue) {
      queue = new Queue(kind, {
        connection,
        prefix,
        defaultJobOptions,
        // Nothing here reads BullMQ's event stream; each progress write adds to it.
        streams: { events: { maxLen: 100 } },
      });
      queue.on('error', onError);
      queues.set(kind, queue);
    }
    return queue;
  }

  /** This process's worker of `kind`, made on its first claim; its stalled check runs from then. */
  function workerOf(kind: string): Worker {
    let worker = workers.get(kind);
    if (!worker) {
      worker = new Worker(kind, null, {
        connection,
        prefix,
        autorun: false,
        lockDuration: leaseMs,
        // A lapsed lock is found within this long; every claiming process checks, at most one
        // check per interval runs across them (BullMQ throttles it on the server).
        stalledInterval: Math.max(100, Math.floor(leaseMs / 2)),
        // Attempts are counted here, per claim; BullMQ must never fail a job for stalling.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
      });
      worker.on('error', onError);
      workers.set(kind, worker);
      void worker.startStalledCheckTimer().catch(onError);
    }
    return worker;
  }

  interface Loaded {
    job: BullJob<JobData>;
    meta: Meta;
  }

  async function load(id: string): Promise<Loaded | undefined> {
    const meta = (await connection.hgetall(metaKey(id))) as Meta;
    if (meta.kind === undefined) return undefined;
    const job = (await BullJob.fromId(queueOf(meta.kind), id)) as BullJob<JobData> | undefined;
    return job ? { job, meta } : undefined;
  }

  function attemptsOf({ job, meta }: Loaded): number {
    return Math.max(0, job.attemptsStarted - Number(meta.refunds ?? 0));
  }

  /** The job as it is: its state and, while it runs, its lock's owner and time left. */
  async function recordOf(loaded: Loaded): Promise<Job> {
    const { job, meta } = loaded;
    const lockKey = `${job.queueQualifiedName}:${job.id}:lock`;
    const [state, lock] = await Promise.all([
      job.getState(),
      connection.multi().get(lockKey).pttl(lockKey).exec(),
    ]);
    const status = statusOf(state);
    if (status !== 'running') return toRecord(loaded, status, null);
    const owner = (lock?.[0]?.[1] as string | null) ?? meta.owner ?? null;
    const ttl = Math.max(0, Number(lock?.[1]?.[1] ?? 0));
    return toRecord(loaded, status, { owner, until: clock.now() + ttl });
  }

  function toRecord(
    loaded: Loaded,
    status: JobStatus,
    lease: { owner: string | null; until: number } | null,
  ): Job {
    const { job, meta } = loaded;
    const data = job.data;
    const updatedAt = Math.max(
      job.timestamp,
      job.processedOn ?? 0,
      job.finishedOn ?? 0,
      Number(meta.updatedAt ?? 0),
    );
    return {
      id: job.id as string,
      kind: job.name,
      key: data.key,
      connectionId: data.connectionId,
      payload: data.payload,
      status,
      attempts: attemptsOf(loaded),
      maxAttempts: data.maxAttempts,
      runAt: Number(meta.runAt ?? job.timestamp + job.delay),
      leaseOwner: lease?.owner ?? null,
      leaseUntil: lease?.until ?? null,
      progress: objectOr(job.progress),
      result: status === 'succeeded' ? objectOr(job.returnvalue) : null,
      lastError: meta.lastError ?? job.failedReason ?? null,
      createdAt: job.timestamp,
      updatedAt,
      startedAt: job.processedOn ?? null,
      finishedAt: job.finishedOn ?? null,
    };
  }

  async function get(id: string): Promise<Job | undefined> {
    const loaded = await load(id);
    return loaded ? recordOf(loaded) : undefined;
  }

  /**
   * Fails a job whose runner died on its last attempt and lists it to be announced once: of the
   * processes that find it (a claim that took it again, a look at the running jobs), the one that
   * sets its marker first lists it. Failing it is tried by each (only one can, as it leaves the
   * active jobs), so a process that died in between leaves it to the next.
   */
  async function failLapsed(loaded: Loaded, token: string): Promise<void> {
    const id = loaded.job.id as string;
    const won = (await connection.set(lapsedTaken(id), '1', 'NX')) === 'OK';
    await connection.hset(metaKey(id), { lastError: LAPSED_ERROR, updatedAt: clock.now() });
    await loaded.job.moveToFailed(new Error(LAPSED_ERROR), token, false).catch((error) => {
      if (!notHeld(error)) throw error;
    });
    if (won) await connection.rpush(lapsedList, id);
  }

  /** Moves a job whose time came forward, with the latest request's payload. */
  async function overtake(id: string, runAt: number, payload: Record<string, unknown>) {
    const loaded = await load(id);
    if (!loaded) return;
    const due = Number(loaded.meta.runAt ?? 0);
    if (runAt >= due || (await loaded.job.getState()) !== 'delayed') return;
    await loaded.job.updateData({ ...loaded.job.data, payload });
    await connection.hset(metaKey(id), { runAt, updatedAt: clock.now() });
    const delay = runAt - clock.now();
    // The job may have fallen due (or been taken) meanwhile: then there is nothing to move.
    await (delay > 0 ? loaded.job.changeDelay(delay) : loaded.job.promote()).catch((error) => {
      if (!notHeld(error)) throw error;
    });
  }

  async function enqueue(request: EnqueueRequest, tries = 3): Promise<Enqueued> {
    const { kind, key, connectionId, payload = {}, runAt, maxAttempts: max } = request;
    const now = clock.now();
    const id = randomId('job');
    const due = runAt ?? now;
    // Indexed first: a process that dies before the add leaves an entry that lists nothing.
    const index = connection
      .multi()
      .hset(metaKey(id), { kind, runAt: due, refunds: 0, updatedAt: now })
      .zadd(byCreation, now, id);
    if (connectionId !== undefined) index.zadd(byConnection(connectionId), now, id);
    await index.exec();
    const data: JobData = {
      key: key ?? null,
      connectionId: connectionId ?? null,
      payload,
      maxAttempts: max ?? maxAttempts,
    };
    const added = await queueOf(kind).add(kind, data, {
      jobId: id,
      timestamp: now,
      ...(due > now ? { delay: due - now } : {}),
      // One queued or running job per key, until it completes or fails.
      ...(key === undefined ? {} : { deduplication: { id: key } }),
    });
    if (added.id === id) return { job: (await get(id)) as Job, created: true };

    const unindex = connection.multi().del(metaKey(id)).zrem(byCreation, id);
    if (connectionId !== undefined) unindex.zrem(byConnection(connectionId), id);
    await unindex.exec();
    const active = added.id as string;
    await overtake(active, due, payload);
    const job = await get(active);
    if (job && job.status !== 'succeeded' && job.status !== 'failed')
      return { job, created: false };
    if (tries <= 1)
      throw new Error(`the job queue keeps naming ${active} as the active job of ${key}`);
    // The active job ended between the add and this read, so the key is free again; or it is gone
    // (removed by hand) and its deduplication key must go too.
    if (!job && key !== undefined) await queueOf(kind).removeDeduplicationKey(key);
    return enqueue(request, tries - 1);
  }

  return {
    leaseMs,
    claimsById: false,

    enqueue: (request) => enqueue(request),

    async claim(owner, { kinds: wanted, jobId } = {}) {
      // BullMQ hands out jobs in queue order only: a named job is run by the workers.
      if (jobId !== undefined) return undefined;
      for (const kind of wanted ?? kinds) {
        const worker = workerOf(kind);
        for (;;) {
          const next = (await worker.getNextJob(owner, { block: false })) as
            | BullJob<JobData>
            | undefined;
          if (!next) break;
          const id = next.id as string;
          const now = clock.now();
          const [, read] =
            (await connection
              .multi()
              .hset(metaKey(id), { owner, updatedAt: now })
              .hgetall(metaKey(id))
              .exec()) ?? [];
          const loaded = { job: next, meta: (read?.[1] ?? {}) as Meta };
          if (attemptsOf(loaded) > next.data.maxAttempts) {
            // Taken again after its runner died on the last attempt: it fails instead.
            await failLapsed(loaded, owner);
            continue;
          }
          return toRecord(loaded, 'running', { owner, until: now + leaseMs });
        }
      }
      return undefined;
    },

    async heartbeat(jobId, owner, progress) {
      // The hottest call: two small steps, without reading the job.
      const kind = await connection.hget(metaKey(jobId), 'kind');
      if (kind === null) return false;
      const lost = await workerOf(kind).extendJobLocks([jobId], [owner], leaseMs);
      if (lost.length > 0) return false;
      if (progress !== undefined) await queueOf(kind).updateJobProgress(jobId, progress);
      return true;
    },

    async complete(jobId, owner, result) {
      const loaded = await load(jobId);
      if (!loaded) return false;
      try {
        await loaded.job.moveToCompleted(result ?? {}, owner, false);
        return true;
      } catch (error) {
        if (notHeld(error)) return false;
        throw error;
      }
    },

    async fail(jobId, owner, { message, retryable }) {
      const loaded = await load(jobId);
      if (!loaded) return undefined;
      const now = clock.now();
      const attempts = attemptsOf(loaded);
      try {
        if (retryable && attempts < loaded.job.data.maxAttempts) {
          const runAt = now + exponentialDelay(attempts, backoff);
          await loaded.job.moveToDelayed(runAt, owner);
          await connection.hset(metaKey(jobId), { runAt, lastError: message, updatedAt: now });
        } else {
          await loaded.job.moveToFailed(new Error(message), owner, false);
          await connection.hset(metaKey(jobId), { lastError: message, updatedAt: now });
        }
      } catch (error) {
        if (!notHeld(error)) throw error;
      }
      return get(jobId);
    },

    async release(jobId, owner) {
      const loaded = await load(jobId);
      if (!loaded) return false;
      // Refunded before the job is back in the queue, so that whoever takes it next counts right.
      const now = clock.now();
      await connection
        .multi()
        .hincrby(metaKey(jobId), 'refunds', 1)
        .hset(metaKey(jobId), { runAt: now, updatedAt: now })
        .exec();
      try {
        await loaded.job.moveToWait(owner);
        return true;
      } catch (error) {
        await connection.hincrby(metaKey(jobId), 'refunds', -1);
        if (notHeld(error)) return false;
        throw error;
      }
    },

    get,

    async list({ kind, connectionId, status, limit }) {
      const index = connectionId === undefined ? byCreation : byConnection(connectionId);
      const out: Job[] = [];
      const batch = Math.max(limit, 20);
      for (let start = 0; out.length < limit; start += batch) {
        const ids = await connection.zrevrange(index, start, start + batch - 1);
        if (ids.length === 0) break;
        for (const id of ids) {
          const job = await get(id);
          if (!job) continue;
          if (kind !== undefined && job.kind !== kind) continue;
          if (status !== undefined && !status.includes(job.status)) continue;
          out.push(job);
          if (out.length === limit) break;
        }
      }
      return out;
    },

    async takeLapsedFailures() {
      // Running jobs whose lock expired on their last attempt fail here, before any claim.
      for (const kind of new Set([...kinds, ...queues.keys()])) {
        const queue = queueOf(kind);
        const active = await connection.lrange(queue.toKey('active'), 0, -1);
        if (active.length === 0) continue;
        const locks = connection.pipeline();
        for (const id of active) locks.exists(`${queue.toKey(id)}:lock`);
        const held = (await locks.exec()) ?? [];
        for (const [i, id] of active.entries()) {
          if (held[i]?.[1] === 1) continue;
          const loaded = await load(id);
          if (!loaded || attemptsOf(loaded) < loaded.job.data.maxAttempts) continue;
          // No owner holds it: BullMQ's token "0" skips the lock check.
          await failLapsed(loaded, '0');
        }
      }
      const ids = (await connection.lpop(lapsedList, 100)) ?? [];
      const jobs = await Promise.all(ids.map((id) => get(id)));
      return jobs.filter((job): job is Job => job !== undefined);
    },

    async workers(kind) {
      return queueOf(kind).getWorkersCount();
    },

    async close() {
      await Promise.all([...workers.values()].map((w) => w.close()));
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}
