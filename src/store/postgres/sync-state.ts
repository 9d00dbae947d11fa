// The sync's own tables: `sync_checkpoints` (where each search stands), `sync_references`
// (resources to read by reference), `sync_runs` and `sync_refusals`.
import type {
  SyncCheckpoint,
  SyncReference,
  SyncRefusal,
  SyncRunRecord,
  SyncStateRepository,
} from '../port.ts';
import { type ColumnMap, insertOf, selectList } from './columns.ts';
import { guardWrite, type PostgresDb, parameters, type Queryable } from './database.ts';

const CHECKPOINT_COLUMNS: ColumnMap<SyncCheckpoint> = {
  connectionId: 'connection_id',
  searchKey: 'search_key',
  type: 'type',
  status: 'status',
  mode: 'mode',
  nextLink: 'next_link',
  pagesDone: 'pages_done',
  resourcesDone: 'resources_done',
  sweep: 'sweep',
  passBound: 'pass_bound',
  seenMax: 'seen_max',
  highWater: 'high_water',
  lastFullAt: 'last_full_at',
  reason: 'reason',
  updatedAt: 'updated_at',
};

const REFERENCE_COLUMNS: ColumnMap<SyncReference> = {
  connectionId: 'connection_id',
  type: 'type',
  id: 'id',
  status: 'status',
  contentType: 'content_type',
  declaredSize: 'declared_size',
  reason: 'reason',
  updatedAt: 'updated_at',
};

const RUN_COLUMNS: ColumnMap<SyncRunRecord> = {
  id: 'id',
  connectionId: 'connection_id',
  mode: 'mode',
  status: 'status',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  progress: 'progress',
  result: 'result',
  reason: 'reason',
  error: 'error',
  outcome: 'outcome',
  updatedAt: 'updated_at',
};

const REFUSAL_COLUMNS: ColumnMap<SyncRefusal> = {
  practiceBase: 'practice_base',
  query: 'query',
  reason: 'reason',
  refusedAt: 'refused_at',
  expiresAt: 'expires_at',
};

type RunRow = Omit<SyncRunRecord, 'progress' | 'result'> & {
  progress: string;
  result: string | null;
};

function runFromRow({ outcome, ...row }: RunRow): SyncRunRecord {
  return {
    ...row,
    progress: JSON.parse(row.progress) as SyncRunRecord['progress'],
    result: row.result === null ? null : (JSON.parse(row.result) as Record<string, unknown>),
    // Absent rather than null while the run has none, as for runs written before outcomes.
    ...(outcome ? { outcome } : {}),
  };
}

/** Inserts or replaces checkpoints by (connection, search key); resources.ts saves a page's with it. */
export async function upsertCheckpoints(
  client: Queryable,
  checkpoints: readonly SyncCheckpoint[],
): Promise<void> {
  for (const checkpoint of checkpoints) {
    const { sql, args } = insertOf('sync_checkpoints', CHECKPOINT_COLUMNS, checkpoint);
    const updates = Object.values(CHECKPOINT_COLUMNS)
      .filter((c) => c !== 'connection_id' && c !== 'search_key')
      .map((c) => `${c} = excluded.${c}`)
      .join(', ');
    await client.query(
      `${sql} ON CONFLICT (connection_id, search_key) DO UPDATE SET ${updates}`,
      args,
    );
  }
}

/** Saves a run's progress; resources.ts saves it with a page. */
export async function saveRunProgress(
  client: Queryable,
  id: string,
  progress: SyncRunRecord['progress'],
  updatedAt: number,
): Promise<void> {
  await client.query('UPDATE sync_runs SET progress = $1, updated_at = $2 WHERE id = $3', [
    JSON.stringify(progress),
    updatedAt,
    id,
  ]);
}

export function createSyncStateRepository(db: PostgresDb): SyncStateRepository {
  const references = async (sql: string, args: unknown[]) =>
    (await db.query<SyncReference>(sql, args)).rows;
  const SELECT_REFERENCES = `SELECT ${selectList(REFERENCE_COLUMNS)} FROM sync_references`;
  const SELECT_RUNS = `SELECT ${selectList(RUN_COLUMNS)} FROM sync_runs`;

  return {
    async refusals(practiceBase, now) {
      const { rows } = await db.query<SyncRefusal>(
        `SELECT ${selectList(REFUSAL_COLUMNS)} FROM sync_refusals
         WHERE practice_base = $1 AND expires_at > $2 ORDER BY query`,
        [practiceBase, now],
      );
      return rows;
    },
    async putRefusal(refusal) {
      const { sql, args } = insertOf('sync_refusals', REFUSAL_COLUMNS, refusal);
      await db.query(
        `${sql} ON CONFLICT (practice_base, query) DO UPDATE SET reason = excluded.reason,
           refused_at = excluded.refused_at, expires_at = excluded.expires_at`,
        args,
      );
    },
    async checkpoints(connectionId) {
      const { rows } = await db.query<SyncCheckpoint>(
        `SELECT ${selectList(CHECKPOINT_COLUMNS)} FROM sync_checkpoints
         WHERE connection_id = $1 ORDER BY search_key`,
        [connectionId],
      );
      return rows;
    },
    async putCheckpoints(list) {
      await guardWrite('sync checkpoint', () => db.tx((client) => upsertCheckpoints(client, list)));
    },
    pendingReferences: (connectionId, limit) =>
      references(
        `${SELECT_REFERENCES} WHERE connection_id = $1 AND status = 'pending'
         ORDER BY type, id LIMIT $2`,
        [connectionId, limit],
      ),
    async resolveReference(connectionId, type, id, outcome) {
      await db.query(
        `UPDATE sync_references SET status = $1, reason = $2, updated_at = $3
         WHERE connection_id = $4 AND type = $5 AND id = $6`,
        [outcome.status, outcome.reason ?? null, outcome.at, connectionId, type, id],
      );
    },
    async resetReferences(connectionId, types, at) {
      if (types.length === 0) return 0;
      const { rowCount } = await db.query(
        `UPDATE sync_references SET status = 'pending', reason = NULL, updated_at = $1
         WHERE connection_id = $2 AND status = 'done' AND type = ANY($3::text[])`,
        [at, connectionId, [...types]],
      );
      return rowCount ?? 0;
    },
    references: (connectionId) =>
      references(`${SELECT_REFERENCES} WHERE connection_id = $1 ORDER BY type, id`, [connectionId]),
    async createRun(run) {
      const { sql, args } = insertOf('sync_runs', RUN_COLUMNS, run, {
        progress: (v) => JSON.stringify(v),
        result: (v) => (v === null ? null : JSON.stringify(v)),
      });
      await guardWrite('sync run', () => db.query(sql, args));
    },
    async updateRun(id, patch) {
      const { args, p } = parameters();
      const sets = [`updated_at = ${p(patch.updatedAt)}`];
      if (patch.status !== undefined) sets.push(`status = ${p(patch.status)}`);
      if (patch.finishedAt !== undefined) sets.push(`finished_at = ${p(patch.finishedAt)}`);
      if (patch.progress !== undefined)
        sets.push(`progress = ${p(JSON.stringify(patch.progress))}`);
      if (patch.result !== undefined)
        sets.push(`result = ${p(patch.result === null ? null : JSON.stringify(patch.result))}`);
      if (patch.reason !== undefined) sets.push(`reason = ${p(patch.reason)}`);
      if (patch.error !== undefined) sets.push(`error = ${p(patch.error)}`);
      if (patch.outcome !== undefined) sets.push(`outcome = ${p(patch.outcome)}`);
      await db.query(`UPDATE sync_runs SET ${sets.join(', ')} WHERE id = ${p(id)}`, args);
    },
    async getRun(id) {
      const { rows } = await db.query<RunRow>(`${SELECT_RUNS} WHERE id = $1`, [id]);
      return rows[0] && runFromRow(rows[0]);
    },
    async listRuns(connectionId, limit) {
      const { rows } = await db.query<RunRow>(
        `${SELECT_RUNS} WHERE connection_id = $1 ORDER BY started_at DESC, seq DESC LIMIT $2`,
        [connectionId, limit],
      );
      return rows.map(runFromRow);
    },
    async interruptRuns(connectionId, exceptId, at) {
      const { rowCount } = await db.query(
        `UPDATE sync_runs SET status = 'interrupted', reason = 'interrupted', finished_at = $1,
           updated_at = $1 WHERE connection_id = $2 AND id <> $3 AND status = 'running'`,
        [at, connectionId, exceptId],
      );
      return rowCount ?? 0;
    },
  };
}
