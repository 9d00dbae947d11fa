// The `jobs` table: the store-backed job queue's rows. A claim locks the job it takes with
// FOR UPDATE SKIP LOCKED, so processes sharing the database never both take one, and never
// wait on each other's claims either.
import type { JobRecord, JobRepository } from '../port.ts';
import { type ColumnMap, insertOf, selectList } from './columns.ts';
import { guardWrite, LOCK_KEY, type PostgresDb, type Queryable } from './database.ts';

const COLUMNS: ColumnMap<JobRecord> = {
  id: 'id',
  kind: 'kind',
  key: 'key',
  connectionId: 'connection_id',
  payload: 'payload',
  status: 'status',
  attempts: 'attempts',
  maxAttempts: 'max_attempts',
  runAt: 'run_at',
  leaseOwner: 'lease_owner',
  leaseUntil: 'lease_until',
  progress: 'progress',
  result: 'result',
  lastError: 'last_error',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
};

const RETURNING = selectList(COLUMNS);
const SELECT = `SELECT ${RETURNING} FROM jobs`;

type JobRow = Omit<JobRecord, 'payload' | 'progress' | 'result'> & {
  payload: string;
  progress: string | null;
  result: string | null;
};

const parsed = (text: string | null) =>
  text === null ? null : (JSON.parse(text) as Record<string, unknown>);
const json = (value: Record<string, unknown> | null) =>
  value === null ? null : JSON.stringify(value);

const fromRow = (row: JobRow): JobRecord => ({
  ...row,
  payload: JSON.parse(row.payload) as Record<string, unknown>,
  progress: parsed(row.progress),
  result: parsed(row.result),
});

// A runner whose lease lapsed after its last allowed attempt: the job keeps killing its process
// (or the machine keeps dying), so it ends instead of looping forever. Rows another process is
// changing are skipped (it fails them, or they are no longer lapsed): claims never wait on each
// other, nor lock rows in orders that could deadlock.
const FAIL_EXHAUSTED = `UPDATE jobs SET status = 'failed', finished_at = $1, updated_at = $1,
    last_error = 'its runner stopped without finishing (lease lapsed) on the last attempt',
    lease_owner = NULL, lease_until = NULL, failure_notice = 'lease_exhausted'
  WHERE id IN (
    SELECT id FROM jobs
    WHERE status = 'running' AND lease_until < $1 AND attempts >= max_attempts
    FOR UPDATE SKIP LOCKED)`;

export function createJobRepository(db: PostgresDb): JobRepository {
  const rowsOf = async (client: Queryable, sql: string, args: unknown[]) =>
    (await client.query<JobRow>(sql, args)).rows.map(fromRow);

  return {
    insertUnique: (job) =>
      db.tx(async (client) => {
        // The key's lock makes the check and the insert one step across processes.
        if (job.key !== null) {
          await client.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`, [`job:${job.key}`]);
          // An on-demand run overtakes a scheduled one: the sooner runAt wins.
          const [existing] = await rowsOf(
            client,
            `UPDATE jobs SET run_at = CASE WHEN status = 'queued' THEN LEAST(run_at, $2) ELSE run_at END,
               payload = CASE WHEN status = 'queued' THEN $3 ELSE payload END,
               updated_at = CASE WHEN status = 'queued' THEN $4 ELSE updated_at END
             WHERE key = $1 AND status IN ('queued', 'running') RETURNING ${RETURNING}`,
            [job.key, job.runAt, JSON.stringify(job.payload), job.updatedAt],
          );
          if (existing) return { job: existing, created: false };
        }
        const { sql, args } = insertOf('jobs', COLUMNS, job, {
          payload: (v) => JSON.stringify(v),
          progress: json,
          result: json,
        });
        await guardWrite('job', () => client.query(sql, args));
        return { job, created: true };
      }),

    claim: ({ owner, now, leaseUntil, kinds, jobId }) =>
      db.tx(async (client) => {
        await client.query(FAIL_EXHAUSTED, [now]);
        const [taken] = await rowsOf(
          client,
          `UPDATE jobs SET status = 'running', lease_owner = $2, lease_until = $3,
             attempts = attempts + 1, started_at = $1, updated_at = $1
           WHERE id = (
             SELECT id FROM jobs
             WHERE ((status = 'queued' AND run_at <= $1) OR (status = 'running' AND lease_until < $1))
               AND ($4::text IS NULL OR id = $4)
               AND ($5::text[] IS NULL OR kind = ANY($5::text[]))
             ORDER BY run_at, created_at
             LIMIT 1
             FOR UPDATE SKIP LOCKED)
           RETURNING ${RETURNING}`,
          [now, owner, leaseUntil, jobId ?? null, kinds ? [...kinds] : null],
        );
        return taken;
      }),

    async heartbeat(id, owner, { leaseUntil, now, progress }) {
      const { rowCount } = await db.query(
        `UPDATE jobs SET lease_until = $3, updated_at = $4, progress = COALESCE($5, progress)
         WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
        [id, owner, leaseUntil, now, progress === undefined ? null : JSON.stringify(progress)],
      );
      return (rowCount ?? 0) > 0;
    },

    async finish(id, owner, { status, now, result, error }) {
      const { rowCount } = await db.query(
        `UPDATE jobs SET status = $3, result = $5, last_error = $6, finished_at = $4,
           updated_at = $4, lease_owner = NULL, lease_until = NULL
         WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
        [
          id,
          owner,
          status,
          now,
          result === undefined ? null : JSON.stringify(result),
          error ?? null,
        ],
      );
      return (rowCount ?? 0) > 0;
    },

    async requeue(id, owner, { runAt, now, error, refundAttempt }) {
      const { rowCount } = await db.query(
        `UPDATE jobs SET status = 'queued', run_at = $3, updated_at = $4,
           last_error = COALESCE($5, last_error), lease_owner = NULL, lease_until = NULL,
           attempts = GREATEST(attempts - $6, 0)
         WHERE id = $1 AND status = 'running' AND lease_owner = $2`,
        [id, owner, runAt, now, error ?? null, refundAttempt ? 1 : 0],
      );
      return (rowCount ?? 0) > 0;
    },

    async cancel(id, now) {
      const { rowCount } = await db.query(
        `UPDATE jobs SET status = 'cancelled', finished_at = $2, updated_at = $2
         WHERE id = $1 AND status = 'queued'`,
        [id, now],
      );
      return (rowCount ?? 0) > 0;
    },

    async get(id) {
      return (await rowsOf(db, `${SELECT} WHERE id = $1`, [id]))[0];
    },

    list: ({ kind, connectionId, status, limit }) =>
      rowsOf(
        db,
        `${SELECT}
         WHERE ($1::text IS NULL OR kind = $1)
           AND ($2::text IS NULL OR connection_id = $2)
           AND ($3::text[] IS NULL OR status = ANY($3::text[]))
         ORDER BY created_at DESC, seq DESC
         LIMIT $4`,
        [kind ?? null, connectionId ?? null, status ? [...status] : null, limit],
      ),

    takeLapsedFailures: (now) =>
      db.tx(async (client) => {
        await client.query(FAIL_EXHAUSTED, [now]);
        // Clearing the notice is the hand-out: a second process's UPDATE waits on the row
        // lock, then finds the notice gone, so each failure is returned once.
        const rows = await rowsOf(
          client,
          `UPDATE jobs SET failure_notice = NULL WHERE failure_notice IS NOT NULL
           RETURNING ${RETURNING}`,
          [],
        );
        return rows.sort(
          (a, b) =>
            (a.finishedAt ?? 0) - (b.finishedAt ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
        );
      }),
  };
}
