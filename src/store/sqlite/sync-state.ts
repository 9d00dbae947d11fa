// The sync's own tables: `sync_checkpoints` (where each search stands), `sync_references`
// (resources to read by reference) and `sync_runs`, with their row <-> record mappings.
import type { Database } from 'better-sqlite3';
import type {
  SyncCheckpoint,
  SyncReference,
  SyncRefusal,
  SyncRunRecord,
  SyncStateRepository,
} from '../port.ts';
import { guardWrite } from './constraints.ts';

interface CheckpointRow {
  connection_id: string;
  search_key: string;
  type: string;
  status: SyncCheckpoint['status'];
  mode: SyncCheckpoint['mode'];
  next_link: string | null;
  pages_done: number;
  resources_done: number;
  sweep: string | null;
  pass_bound: number | null;
  seen_max: number | null;
  high_water: number | null;
  last_full_at: number | null;
  reason: string | null;
  updated_at: number;
}

export function checkpointToRow(c: SyncCheckpoint): CheckpointRow {
  return {
    connection_id: c.connectionId,
    search_key: c.searchKey,
    type: c.type,
    status: c.status,
    mode: c.mode,
    next_link: c.nextLink,
    pages_done: c.pagesDone,
    resources_done: c.resourcesDone,
    sweep: c.sweep,
    pass_bound: c.passBound,
    seen_max: c.seenMax,
    high_water: c.highWater,
    last_full_at: c.lastFullAt,
    reason: c.reason,
    updated_at: c.updatedAt,
  };
}

function checkpointFromRow(r: CheckpointRow): SyncCheckpoint {
  return {
    connectionId: r.connection_id,
    searchKey: r.search_key,
    type: r.type,
    status: r.status,
    mode: r.mode,
    nextLink: r.next_link,
    pagesDone: r.pages_done,
    resourcesDone: r.resources_done,
    sweep: r.sweep,
    passBound: r.pass_bound,
    seenMax: r.seen_max,
    highWater: r.high_water,
    lastFullAt: r.last_full_at,
    reason: r.reason,
    updatedAt: r.updated_at,
  };
}

const CHECKPOINT_COLUMNS =
  'connection_id, search_key, type, status, mode, next_link, pages_done, resources_done, sweep, pass_bound, seen_max, high_water, last_full_at, reason, updated_at';

/** Shared with resources.ts, which saves a checkpoint in the page's transaction. */
export const upsertCheckpointSql = `INSERT OR REPLACE INTO sync_checkpoints (${CHECKPOINT_COLUMNS})
  VALUES (@connection_id, @search_key, @type, @status, @mode, @next_link, @pages_done,
          @resources_done, @sweep, @pass_bound, @seen_max, @high_water, @last_full_at, @reason, @updated_at)`;

interface ReferenceRow {
  connection_id: string;
  type: string;
  id: string;
  status: SyncReference['status'];
  content_type: string | null;
  declared_size: number | null;
  reason: string | null;
  updated_at: number;
}

function referenceFromRow(r: ReferenceRow): SyncReference {
  return {
    connectionId: r.connection_id,
    type: r.type,
    id: r.id,
    status: r.status,
    contentType: r.content_type,
    declaredSize: r.declared_size,
    reason: r.reason,
    updatedAt: r.updated_at,
  };
}

interface RunRow {
  id: string;
  connection_id: string;
  mode: SyncRunRecord['mode'];
  status: SyncRunRecord['status'];
  started_at: number;
  finished_at: number | null;
  progress: string;
  result: string | null;
  reason: string | null;
  error: string | null;
  outcome: SyncRunRecord['outcome'] | null;
  updated_at: number;
}

function runFromRow(r: RunRow): SyncRunRecord {
  return {
    id: r.id,
    connectionId: r.connection_id,
    mode: r.mode,
    status: r.status,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    progress: JSON.parse(r.progress) as SyncRunRecord['progress'],
    result: r.result === null ? null : (JSON.parse(r.result) as Record<string, unknown>),
    reason: r.reason,
    error: r.error,
    // Absent rather than null while the run has none, as for runs written before outcomes.
    ...(r.outcome ? { outcome: r.outcome } : {}),
    updatedAt: r.updated_at,
  };
}

const RUN_COLUMNS =
  'id, connection_id, mode, status, started_at, finished_at, progress, result, reason, error, outcome, updated_at';

interface RefusalRow {
  practice_base: string;
  query: string;
  reason: string;
  refused_at: number;
  expires_at: number;
}

export function createSyncStateRepository(db: Database): SyncStateRepository {
  const listCheckpoints = db.prepare<[string], CheckpointRow>(
    `SELECT ${CHECKPOINT_COLUMNS} FROM sync_checkpoints WHERE connection_id = ? ORDER BY search_key`,
  );
  const upsertCheckpoint = db.prepare(upsertCheckpointSql);
  const putAll = db.transaction((list: SyncCheckpoint[]) => {
    for (const c of list) upsertCheckpoint.run(checkpointToRow(c));
  });
  const pending = db.prepare<[string, number], ReferenceRow>(
    `SELECT * FROM sync_references WHERE connection_id = ? AND status = 'pending'
     ORDER BY type, id LIMIT ?`,
  );
  const allReferences = db.prepare<[string], ReferenceRow>(
    'SELECT * FROM sync_references WHERE connection_id = ? ORDER BY type, id',
  );
  const resolve = db.prepare<[string, string | null, number, string, string, string]>(
    `UPDATE sync_references SET status = ?, reason = ?, updated_at = ?
     WHERE connection_id = ? AND type = ? AND id = ?`,
  );
  const insertRun = db.prepare(
    `INSERT INTO sync_runs (${RUN_COLUMNS}) VALUES (@id, @connection_id, @mode, @status,
       @started_at, @finished_at, @progress, @result, @reason, @error, @outcome, @updated_at)`,
  );
  const getRun = db.prepare<[string], RunRow>(`SELECT ${RUN_COLUMNS} FROM sync_runs WHERE id = ?`);
  const listRuns = db.prepare<[string, number], RunRow>(
    `SELECT ${RUN_COLUMNS} FROM sync_runs WHERE connection_id = ?
     ORDER BY started_at DESC, rowid DESC LIMIT ?`,
  );
  const interrupt = db.prepare<[number, number, string, string]>(
    `UPDATE sync_runs SET status = 'interrupted', reason = 'interrupted', finished_at = ?,
       updated_at = ? WHERE connection_id = ? AND id <> ? AND status = 'running'`,
  );

  const liveRefusals = db.prepare<[string, number], RefusalRow>(
    `SELECT * FROM sync_refusals WHERE practice_base = ? AND expires_at > ? ORDER BY query`,
  );
  const upsertRefusal = db.prepare(
    `INSERT OR REPLACE INTO sync_refusals (practice_base, query, reason, refused_at, expires_at)
     VALUES (@practice_base, @query, @reason, @refused_at, @expires_at)`,
  );

  return {
    async refusals(practiceBase, now) {
      return liveRefusals.all(practiceBase, now).map(
        (r): SyncRefusal => ({
          practiceBase: r.practice_base,
          query: r.query,
          reason: r.reason,
          refusedAt: r.refused_at,
          expiresAt: r.expires_at,
        }),
      );
    },
    async putRefusal(r) {
      upsertRefusal.run({
        practice_base: r.practiceBase,
        query: r.query,
        reason: r.reason,
        refused_at: r.refusedAt,
        expires_at: r.expiresAt,
      });
    },
    async checkpoints(connectionId) {
      return listCheckpoints.all(connectionId).map(checkpointFromRow);
    },
    async putCheckpoints(list) {
      guardWrite('sync checkpoint', () => putAll.immediate(list));
    },
    async pendingReferences(connectionId, limit) {
      return pending.all(connectionId, limit).map(referenceFromRow);
    },
    async resolveReference(connectionId, type, id, outcome) {
      resolve.run(outcome.status, outcome.reason ?? null, outcome.at, connectionId, type, id);
    },
    async resetReferences(connectionId, types, at) {
      if (types.length === 0) return 0;
      const marks = types.map(() => '?').join(', ');
      return db
        .prepare(
          `UPDATE sync_references SET status = 'pending', reason = NULL, updated_at = ?
           WHERE connection_id = ? AND status = 'done' AND type IN (${marks})`,
        )
        .run(at, connectionId, ...types).changes;
    },
    async references(connectionId) {
      return allReferences.all(connectionId).map(referenceFromRow);
    },
    async createRun(run) {
      guardWrite('sync run', () =>
        insertRun.run({
          id: run.id,
          connection_id: run.connectionId,
          mode: run.mode,
          status: run.status,
          started_at: run.startedAt,
          finished_at: run.finishedAt,
          progress: JSON.stringify(run.progress),
          result: run.result === null ? null : JSON.stringify(run.result),
          reason: run.reason,
          error: run.error,
          outcome: run.outcome ?? null,
          updated_at: run.updatedAt,
        }),
      );
    },
    async updateRun(id, patch) {
      const sets: string[] = ['updated_at = @updated_at'];
      const args: Record<string, unknown> = { id, updated_at: patch.updatedAt };
      const column = (name: string, value: unknown) => {
        sets.push(`${name} = @${name}`);
        args[name] = value;
      };
      if (patch.status !== undefined) column('status', patch.status);
      if (patch.finishedAt !== undefined) column('finished_at', patch.finishedAt);
      if (patch.progress !== undefined) column('progress', JSON.stringify(patch.progress));
      if (patch.result !== undefined)
        column('result', patch.result === null ? null : JSON.stringify(patch.result));
      if (patch.reason !== undefined) column('reason', patch.reason);
      if (patch.error !== undefined) column('error', patch.error);
      if (patch.outcome !== undefined) column('outcome', patch.outcome);
      db.prepare(`UPDATE sync_runs SET ${sets.join(', ')} WHERE id = @id`).run(args);
    },
    async getRun(id) {
      const row = getRun.get(id);
      return row ? runFromRow(row) : undefined;
    },
    async listRuns(connectionId, limit) {
      return listRuns.all(connectionId, limit).map(runFromRow);
    },
    async interruptRuns(connectionId, exceptId, at) {
      return interrupt.run(at, at, connectionId, exceptId).changes;
    },
  };
}
