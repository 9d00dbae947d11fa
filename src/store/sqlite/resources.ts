// The `resources` table: upserts of a page with its references, checkpoint and run progress in
// one transaction; filtered lists; and streaming iteration for exports.
import Sqlite, { type Database } from 'better-sqlite3';
import type {
  DateFilter,
  PageWrite,
  PageWriteResult,
  ResourceRepository,
  ResourceWrite,
  StoredResource,
  TokenFilter,
} from '../port.ts';
import { guardWrite } from './constraints.ts';
import { checkpointToRow, upsertCheckpointSql } from './sync-state.ts';

interface ResourceRow {
  connection_id: string;
  type: string;
  id: string;
  version_id: string | null;
  last_updated: string | null;
  last_updated_ms: number | null;
  date_start: number | null;
  date_end: number | null;
  json: string;
  practice_base: string;
  fetched_at: number;
  source: string;
  deleted_at: number | null;
}

const COLUMNS =
  'connection_id, type, id, version_id, last_updated, last_updated_ms, date_start, date_end, json, practice_base, fetched_at, source, deleted_at';

function fromRow(row: ResourceRow): StoredResource {
  return {
    connectionId: row.connection_id,
    type: row.type,
    id: row.id,
    versionId: row.version_id,
    lastUpdated: row.last_updated,
    lastUpdatedMs: row.last_updated_ms,
    dateStart: row.date_start,
    dateEnd: row.date_end,
    json: row.json,
    practiceBase: row.practice_base,
    fetchedAt: row.fetched_at,
    source: row.source,
    deletedAt: row.deleted_at,
  };
}

/** Rows per batch when iterating a `:memory:` database (no second connection can see it). */
const BATCH = 500;

/**
 * SQL for a date filter on a [start, end) column pair, FHIR R4 §3.1.1.4.2 (`eq`: the value lies
 * within the searched range; `gt`/`lt`: it extends past it; `ge`/`le`: it reaches into or past it).
 */
function dateCondition(start: string, end: string, filter: DateFilter, args: unknown[]): string {
  switch (filter.prefix) {
    case 'eq':
      args.push(filter.start, filter.end);
      return `(${start} >= ? AND ${end} <= ?)`;
    case 'gt':
      args.push(filter.end);
      return `${end} > ?`;
    case 'lt':
      args.push(filter.start);
      return `${start} < ?`;
    case 'ge':
      args.push(filter.start);
      return `${end} > ?`;
    case 'le':
      args.push(filter.end);
      return `${start} < ?`;
  }
}

function tokenCondition(anyOf: TokenFilter[], args: unknown[]): string {
  const parts = anyOf.map((token) => {
    const checks: string[] = [];
    if (token.system !== undefined) {
      if (token.system === '') checks.push("json_extract(c.value, '$.system') IS NULL");
      else {
        checks.push("json_extract(c.value, '$.system') = ?");
        args.push(token.system);
      }
    }
    if (token.code !== undefined) {
      checks.push("json_extract(c.value, '$.code') = ?");
      args.push(token.code);
    }
    return checks.length > 0 ? `(${checks.join(' AND ')})` : '1';
  });
  return `EXISTS (SELECT 1 FROM json_each(resources.json, '$.code.coding') AS c WHERE ${parts.join(' OR ')})`;
}

export function createResourceRepository(db: Database): ResourceRepository {
  const select = db.prepare<[string, string, string], ResourceRow>(
    `SELECT ${COLUMNS} FROM resources WHERE connection_id = ? AND type = ? AND id = ?`,
  );
  // Positional parameters throughout the page write: binding an object by name costs a property
  // lookup per column per row. A new row is one INSERT (its conflict is the "already stored" test),
  // so a first sync never reads before it writes.
  const insertNew = db.prepare(
    `INSERT INTO resources (${COLUMNS}, sweep)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
     ON CONFLICT (connection_id, type, id) DO NOTHING`,
  );
  // What decides whether a stored row changes: its meta, whether it is deleted and, only for a
  // resource without meta (the parameter is then its text, else NULL), whether the text is equal;
  // the stored text itself is never copied out.
  const storedState = db.prepare<
    [string | null, string, string, string],
    {
      version_id: string | null;
      last_updated: string | null;
      deleted: number;
      same_json: number | null;
    }
  >(
    `SELECT version_id, last_updated, deleted_at IS NOT NULL AS deleted, json = ? AS same_json
     FROM resources WHERE connection_id = ? AND type = ? AND id = ?`,
  );
  const replace = db.prepare(
    `UPDATE resources SET version_id = ?, last_updated = ?, last_updated_ms = ?, date_start = ?,
       date_end = ?, json = ?, practice_base = ?, fetched_at = ?, source = ?, deleted_at = NULL,
       sweep = COALESCE(?, sweep)
     WHERE connection_id = ? AND type = ? AND id = ?`,
  );
  const stamp = db.prepare<[string, string, string, string]>(
    'UPDATE resources SET sweep = ? WHERE connection_id = ? AND type = ? AND id = ?',
  );
  const noteReference = db.prepare(
    `INSERT INTO sync_references
       (connection_id, type, id, status, content_type, declared_size, reason, updated_at)
     VALUES (?, ?, ?, 'pending', ?, ?, NULL, ?)
     ON CONFLICT (connection_id, type, id) DO NOTHING`,
  );
  const resolveDone = db.prepare<[number, string, string, string]>(
    `UPDATE sync_references SET status = 'done', reason = NULL, updated_at = ?
     WHERE connection_id = ? AND type = ? AND id = ?`,
  );
  const saveCheckpoint = db.prepare(upsertCheckpointSql);
  const saveProgress = db.prepare<[string, number, string]>(
    'UPDATE sync_runs SET progress = ?, updated_at = ? WHERE id = ?',
  );
  const unseen = db.prepare<[number, string, string, string]>(
    `UPDATE resources SET deleted_at = ?
     WHERE connection_id = ? AND type = ? AND deleted_at IS NULL AND source <> 'read'
       AND (sweep IS NULL OR sweep <> ?)`,
  );
  const counts = db.prepare<[string], { type: string; n: number }>(
    `SELECT type, count(*) AS n FROM resources WHERE connection_id = ? AND deleted_at IS NULL
     GROUP BY type ORDER BY type`,
  );
  const statements = new Map<string, Sqlite.Statement<unknown[], ResourceRow>>();
  const prepared = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare<unknown[], ResourceRow>(sql);
      statements.set(sql, statement);
    }
    return statement;
  };

  /**
   * The values a write sets, from version_id to sweep, in the order both insertNew (after the key)
   * and replace (before the key) bind them.
   */
  function writtenValues(page: PageWrite, r: ResourceWrite) {
    return [
      r.versionId,
      r.lastUpdated,
      r.lastUpdatedMs,
      r.dateStart,
      r.dateEnd,
      r.json,
      page.practiceBase,
      page.fetchedAt,
      page.source,
      page.sweep,
    ] as const;
  }

  /** Stores one resource of `page`: a new row, a rewritten one, or only the sweep stamp moved. */
  function writeResource(page: PageWrite, r: ResourceWrite): keyof PageWriteResult {
    const { connectionId, sweep } = page;
    const written = writtenValues(page, r);
    const inserted = insertNew.run(connectionId, r.type, r.id, ...written).changes;
    if (inserted === 1) return 'inserted';
    // Same version: a no-op (only the sweep stamp moves). Without any meta, the text decides.
    const hasMeta = r.versionId !== null || r.lastUpdated !== null;
    const stored = storedState.get(hasMeta ? null : r.json, connectionId, r.type, r.id);
    if (
      stored &&
      !stored.deleted &&
      stored.version_id === r.versionId &&
      stored.last_updated === r.lastUpdated &&
      (hasMeta || stored.same_json === 1)
    ) {
      if (sweep !== null) stamp.run(sweep, connectionId, r.type, r.id);
      return 'unchanged';
    }
    replace.run(...written, connectionId, r.type, r.id);
    return 'updated';
  }

  const writePage = db.transaction((page: PageWrite): PageWriteResult => {
    const result: PageWriteResult = { inserted: 0, updated: 0, unchanged: 0 };
    for (const r of page.resources) result[writeResource(page, r)]++;
    for (const ref of page.references ?? []) {
      noteReference.run(
        page.connectionId,
        ref.type,
        ref.id,
        ref.contentType ?? null,
        ref.declaredSize ?? null,
        page.fetchedAt,
      );
    }
    for (const ref of page.resolved ?? []) {
      resolveDone.run(page.fetchedAt, page.connectionId, ref.type, ref.id);
    }
    if (page.checkpoint) saveCheckpoint.run(checkpointToRow(page.checkpoint));
    if (page.run) {
      let progress = page.run.progress;
      const counted = page.run.countsFor === undefined ? undefined : progress[page.run.countsFor];
      if (page.run.countsFor !== undefined && counted) {
        progress = {
          ...progress,
          [page.run.countsFor]: {
            ...counted,
            inserted: (counted.inserted ?? 0) + result.inserted,
            updated: (counted.updated ?? 0) + result.updated,
            unchanged: (counted.unchanged ?? 0) + result.unchanged,
          },
        };
      }
      saveProgress.run(JSON.stringify(progress), page.run.updatedAt, page.run.id);
    }
    return result;
  });

  /** Streams rows from a second, read-only connection: one snapshot, and the writer stays free. */
  async function* iterateFile(sql: string, args: unknown[]): AsyncGenerator<StoredResource> {
    const reader = new Sqlite(db.name, { readonly: true, fileMustExist: true });
    try {
      reader.pragma('busy_timeout = 5000');
      const rows = reader.prepare<unknown[], ResourceRow>(sql).iterate(...args);
      try {
        for (const row of rows) yield fromRow(row);
      } finally {
        rows.return?.();
      }
    } finally {
      reader.close();
    }
  }

  /**
   * `:memory:` has no second connection, and an open iterator would block every write on this
   * one, so read keyset batches instead.
   */
  async function* iterateBatches(
    connectionId: string,
    type: string | undefined,
  ): AsyncGenerator<StoredResource> {
    let after: { type: string; id: string } = { type: type ?? '', id: '' };
    const byType = type !== undefined;
    const sql = byType
      ? `SELECT ${COLUMNS} FROM resources WHERE connection_id = ? AND deleted_at IS NULL
         AND type = ? AND id > ? ORDER BY id LIMIT ${BATCH}`
      : `SELECT ${COLUMNS} FROM resources WHERE connection_id = ? AND deleted_at IS NULL
         AND (type > ? OR (type = ? AND id > ?)) ORDER BY type, id LIMIT ${BATCH}`;
    for (;;) {
      const rows = byType
        ? prepared(sql).all(connectionId, after.type, after.id)
        : prepared(sql).all(connectionId, after.type, after.type, after.id);
      for (const row of rows) yield fromRow(row);
      const last = rows.at(-1);
      if (!last || rows.length < BATCH) return;
      after = { type: last.type, id: last.id };
    }
  }

  const forget = db.transaction((connectionId: string) => {
    db.prepare('DELETE FROM sync_checkpoints WHERE connection_id = ?').run(connectionId);
    db.prepare('DELETE FROM sync_references WHERE connection_id = ?').run(connectionId);
    return db.prepare('DELETE FROM resources WHERE connection_id = ?').run(connectionId).changes;
  });

  return {
    async forgetRecord(connectionId) {
      return forget.immediate(connectionId);
    },

    async savePage(page) {
      return guardWrite('resource', () => writePage.immediate(page));
    },

    async get(connectionId, type, id, options = {}) {
      const row = select.get(connectionId, type, id);
      if (!row || (row.deleted_at !== null && !options.includeDeleted)) return undefined;
      return fromRow(row);
    },

    async list(query) {
      const args: unknown[] = [query.connectionId, query.type];
      const where = ['connection_id = ?', 'type = ?', 'deleted_at IS NULL'];
      if (query.afterId !== undefined) {
        where.push('id > ?');
        args.push(query.afterId);
      }
      for (const f of query.lastUpdated ?? []) {
        where.push('last_updated_ms IS NOT NULL');
        where.push(dateCondition('last_updated_ms', '(last_updated_ms + 1)', f, args));
      }
      for (const f of query.date ?? []) {
        where.push('date_start IS NOT NULL');
        where.push(dateCondition('date_start', 'date_end', f, args));
      }
      for (const anyOf of query.code ?? []) where.push(tokenCondition(anyOf, args));
      args.push(query.limit);
      const sql = `SELECT ${COLUMNS} FROM resources WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`;
      return prepared(sql)
        .all(...args)
        .map(fromRow);
    },

    iterate(connectionId, options = {}) {
      if (db.memory) return iterateBatches(connectionId, options.type);
      const byType = options.type !== undefined;
      const sql = `SELECT ${COLUMNS} FROM resources WHERE connection_id = ? AND deleted_at IS NULL
        ${byType ? 'AND type = ? ORDER BY id' : 'ORDER BY type, id'}`;
      return iterateFile(sql, byType ? [connectionId, options.type] : [connectionId]);
    },

    async countByType(connectionId) {
      return Object.fromEntries(counts.all(connectionId).map((r) => [r.type, r.n]));
    },

    async markUnseen(connectionId, type, sweep, at) {
      return unseen.run(at, connectionId, type, sweep).changes;
    },
  };
}
