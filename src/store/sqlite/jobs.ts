// The `jobs` table: the in-process job queue's rows, claims as compare-and-set under an
// IMMEDIATE transaction (so processes sharing the file never both take a job), and the row
// <-> JobRecord mapping.
import type { Database } from 'better-sqlite3';
import type { JobRecord, JobRepository, JobStatus } from '../port.ts';
import { guardWrite } from './constraints.ts';

interface JobRow {
  id: string;
  kind: string;
  key: string | null;
  connection_id: string | null;
  payload: string;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  run_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  progress: string | null;
  result: string | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const json = (value: Record<string, unknown> | null) =>
  value === null ? null : JSON.stringify(value);
const parsed = (text: string | null) =>
  text === null ? null : (JSON.parse(text) as Record<string, unknown>);

function toRow(job: JobRecord): JobRow {
  return {
    id: job.id,
    kind: job.kind,
    key: job.key,
    connection_id: job.connectionId,
    payload: JSON.stringify(job.payload),
    status: job.status,
    attempts: job.attempts,
    max_attempts: job.maxAttempts,
    run_at: job.runAt,
    lease_owner: job.leaseOwner,
    lease_until: job.leaseUntil,
    progress: json(job.progress),
    result: json(job.result),
    last_error: job.lastError,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
  };
}

function fromRow(row: JobRow): JobRecord {
  return {
    id: row.id,
    kind: row.kind,
    key: row.key,
    connectionId: row.connection_id,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    runAt: row.run_at,
    leaseOwner: row.lease_owner,
    leaseUntil: row.lease_until,
    progress: parsed(row.progress),
    result: parsed(row.result),
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

const COLUMNS: readonly (keyof JobRow)[] = [
  'id',
  'kind',
  'key',
  'connection_id',
  'payload',
  'status',
  'attempts',
  'max_attempts',
  'run_at',
  'lease_owner',
  'lease_until',
  'progress',
  'result',
  'last_error',
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
];

export function createJobRepository(db: Database): JobRepository {
  const insert = db.prepare<[JobRow]>(
    `INSERT INTO jobs (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`,
  );
  const get = db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?');
  const activeByKey = db.prepare<[string], JobRow>(
    "SELECT * FROM jobs WHERE key = ? AND status IN ('queued', 'running')",
  );
  const overtake = db.prepare<[{ id: string; run_at: number; payload: string; now: number }]>(
    `UPDATE jobs SET run_at = MIN(run_at, @run_at), payload = @payload, updated_at = @now
     WHERE id = @id AND status = 'queued'`,
  );
  // A runner whose lease lapsed after its last allowed attempt: the job keeps killing its
  // process (or the machine keeps dying), so it ends instead of looping forever.
  const failExhausted = db.prepare<[{ now: number }]>(
    `UPDATE jobs SET status = 'failed', finished_at = @now, updated_at = @now,
       last_error = 'its runner stopped without finishing (lease lapsed) on the last attempt',
       lease_owner = NULL, lease_until = NULL, failure_notice = 'lease_exhausted'
     WHERE status = 'running' AND lease_until < @now AND attempts >= max_attempts`,
  );
  const noticed = db.prepare<[], JobRow>(
    'SELECT * FROM jobs WHERE failure_notice IS NOT NULL ORDER BY finished_at, id',
  );
  const clearNotice = db.prepare<[string]>('UPDATE jobs SET failure_notice = NULL WHERE id = ?');
  const nextDue = db.prepare<
    [{ now: number; job_id: string | null; kinds: string | null }],
    { id: string }
  >(
    `SELECT id FROM jobs
     WHERE ((status = 'queued' AND run_at <= @now) OR (status = 'running' AND lease_until < @now))
       AND (@job_id IS NULL OR id = @job_id)
       AND (@kinds IS NULL OR kind IN (SELECT value FROM json_each(@kinds)))
     ORDER BY run_at, created_at
     LIMIT 1`,
  );
  const take = db.prepare<[{ id: string; owner: string; lease_until: number; now: number }]>(
    `UPDATE jobs SET status = 'running', lease_owner = @owner, lease_until = @lease_until,
       attempts = attempts + 1, started_at = @now, updated_at = @now
     WHERE id = @id`,
  );
  const heartbeat = db.prepare<
    [{ id: string; owner: string; lease_until: number; now: number; progress: string | null }]
  >(
    `UPDATE jobs SET lease_until = @lease_until, updated_at = @now,
       progress = COALESCE(@progress, progress)
     WHERE id = @id AND status = 'running' AND lease_owner = @owner`,
  );
  const finish = db.prepare<
    [
      {
        id: string;
        owner: string;
        status: 'succeeded' | 'failed';
        now: number;
        result: string | null;
        error: string | null;
      },
    ]
  >(
    `UPDATE jobs SET status = @status, result = @result, last_error = @error,
       finished_at = @now, updated_at = @now, lease_owner = NULL, lease_until = NULL
     WHERE id = @id AND status = 'running' AND lease_owner = @owner`,
  );
  const requeue = db.prepare<
    [
      {
        id: string;
        owner: string;
        run_at: number;
        now: number;
        error: string | null;
        refund: 0 | 1;
      },
    ]
  >(
    `UPDATE jobs SET status = 'queued', run_at = @run_at, updated_at = @now,
       last_error = COALESCE(@error, last_error), lease_owner = NULL, lease_until = NULL,
       attempts = MAX(attempts - @refund, 0)
     WHERE id = @id AND status = 'running' AND lease_owner = @owner`,
  );
  const cancel = db.prepare<[{ id: string; now: number }]>(
    `UPDATE jobs SET status = 'cancelled', finished_at = @now, updated_at = @now
     WHERE id = @id AND status = 'queued'`,
  );
  const list = db.prepare<
    [{ kind: string | null; connection_id: string | null; statuses: string | null; limit: number }],
    JobRow
  >(
    `SELECT * FROM jobs
     WHERE (@kind IS NULL OR kind = @kind)
       AND (@connection_id IS NULL OR connection_id = @connection_id)
       AND (@statuses IS NULL OR status IN (SELECT value FROM json_each(@statuses)))
     ORDER BY created_at DESC, rowid DESC
     LIMIT @limit`,
  );

  const insertUnique = db.transaction((job: JobRecord) => {
    const existing = job.key === null ? undefined : activeByKey.get(job.key);
    if (existing) {
      overtake.run({
        id: existing.id,
        run_at: job.runAt,
        payload: JSON.stringify(job.payload),
        now: job.updatedAt,
      });
      return { job: fromRow(get.get(existing.id)!), created: false };
    }
    guardWrite('job', () => insert.run(toRow(job)));
    return { job, created: true };
  });

  const claim = db.transaction(
    (
      owner: string,
      now: number,
      leaseUntil: number,
      jobId: string | null,
      kinds: string | null,
    ) => {
      failExhausted.run({ now });
      const due = nextDue.get({ now, job_id: jobId, kinds });
      if (!due) return undefined;
      take.run({ id: due.id, owner, lease_until: leaseUntil, now });
      return fromRow(get.get(due.id)!);
    },
  );

  const takeLapsedFailures = db.transaction((now: number) => {
    failExhausted.run({ now });
    const rows = noticed.all();
    for (const row of rows) clearNotice.run(row.id);
    return rows.map(fromRow);
  });

  return {
    async takeLapsedFailures(now) {
      return takeLapsedFailures.immediate(now);
    },
    async insertUnique(job) {
      return insertUnique.immediate(job);
    },
    async claim({ owner, now, leaseUntil, kinds, jobId }) {
      return claim.immediate(
        owner,
        now,
        leaseUntil,
        jobId ?? null,
        kinds ? JSON.stringify(kinds) : null,
      );
    },
    async heartbeat(id, owner, { leaseUntil, now, progress }) {
      const progressText = progress === undefined ? null : JSON.stringify(progress);
      return (
        heartbeat.run({ id, owner, lease_until: leaseUntil, now, progress: progressText }).changes >
        0
      );
    },
    async finish(id, owner, { status, now, result, error }) {
      return (
        finish.run({
          id,
          owner,
          status,
          now,
          result: result === undefined ? null : JSON.stringify(result),
          error: error ?? null,
        }).changes > 0
      );
    },
    async requeue(id, owner, { runAt, now, error, refundAttempt }) {
      return (
        requeue.run({
          id,
          owner,
          run_at: runAt,
          now,
          error: error ?? null,
          refund: refundAttempt ? 1 : 0,
        }).changes > 0
      );
    },
    async cancel(id, now) {
      return cancel.run({ id, now }).changes > 0;
    },
    async get(id) {
      const row = get.get(id);
      return row && fromRow(row);
    },
    async list({ kind, connectionId, status, limit }) {
      return list
        .all({
          kind: kind ?? null,
          connection_id: connectionId ?? null,
          statuses: status ? JSON.stringify(status) : null,
          limit,
        })
        .map(fromRow);
    },
  };
}
