// The `resources` table: a page's upserts with its references, checkpoint and run progress in
// one transaction; filtered lists; and iteration in keyset batches for exports.
import type {
  DateFilter,
  PageWriteResult,
  ResourceRepository,
  StoredResource,
  TokenFilter,
} from '../port.ts';
import { guardWrite, type PostgresDb, parameters } from './database.ts';
import { saveRunProgress, upsertCheckpoints } from './sync-state.ts';

const COLUMNS = {
  connectionId: 'connection_id',
  type: 'type',
  id: 'id',
  versionId: 'version_id',
  lastUpdated: 'last_updated',
  lastUpdatedMs: 'last_updated_ms',
  dateStart: 'date_start',
  dateEnd: 'date_end',
  json: 'json',
  practiceBase: 'practice_base',
  fetchedAt: 'fetched_at',
  source: 'source',
  deletedAt: 'deleted_at',
} as const satisfies { [F in keyof Required<StoredResource>]: string };

const SELECT = `SELECT ${Object.entries(COLUMNS)
  .map(([f, c]) => `${c} AS "${f}"`)
  .join(', ')} FROM resources`;

/** Rows per batch when iterating: memory stays flat however large the record. */
const BATCH = 500;

/**
 * SQL for a date filter on a [start, end) column pair, FHIR R4 §3.1.1.4.2 (`eq`: the value lies
 * within the searched range; `gt`/`lt`: it extends past it; `ge`/`le`: it reaches into or past it).
 */
function dateCondition(
  start: string,
  end: string,
  filter: DateFilter,
  p: (value: unknown) => string,
): string {
  switch (filter.prefix) {
    case 'eq':
      return `(${start} >= ${p(filter.start)} AND ${end} <= ${p(filter.end)})`;
    case 'gt':
      return `${end} > ${p(filter.end)}`;
    case 'lt':
      return `${start} < ${p(filter.start)}`;
    case 'ge':
      return `${end} > ${p(filter.start)}`;
    case 'le':
      return `${start} < ${p(filter.end)}`;
  }
}

function tokenCondition(anyOf: TokenFilter[], p: (value: unknown) => string): string {
  const parts = anyOf.map((token) => {
    const checks: string[] = [];
    if (token.system !== undefined) {
      checks.push(
        token.system === '' ? "c->>'system' IS NULL" : `c->>'system' = ${p(token.system)}`,
      );
    }
    if (token.code !== undefined) checks.push(`c->>'code' = ${p(token.code)}`);
    return checks.length > 0 ? `(${checks.join(' AND ')})` : 'TRUE';
  });
  // The text is parsed only here: storage keeps the bytes the server sent.
  return `EXISTS (SELECT 1 FROM jsonb_array_elements(CASE
      WHEN jsonb_typeof(json::jsonb #> '{code,coding}') = 'array' THEN json::jsonb #> '{code,coding}'
      ELSE '[]'::jsonb END) AS c WHERE ${parts.join(' OR ')})`;
}

interface Existing {
  type: string;
  id: string;
  versionId: string | null;
  lastUpdated: string | null;
  json: string;
  deletedAt: number | null;
}

export function createResourceRepository(db: PostgresDb): ResourceRepository {
  async function* batches(
    connectionId: string,
    type: string | undefined,
  ): AsyncGenerator<StoredResource> {
    let after = { type: type ?? '', id: '' };
    for (;;) {
      const { rows } = await (type === undefined
        ? db.query<StoredResource>(
            `${SELECT} WHERE connection_id = $1 AND deleted_at IS NULL AND (type, id) > ($2, $3)
             ORDER BY type, id LIMIT ${BATCH}`,
            [connectionId, after.type, after.id],
          )
        : db.query<StoredResource>(
            `${SELECT} WHERE connection_id = $1 AND deleted_at IS NULL AND type = $2 AND id > $3
             ORDER BY id LIMIT ${BATCH}`,
            [connectionId, after.type, after.id],
          ));
      for (const row of rows) yield row;
      const last = rows.at(-1);
      if (!last || rows.length < BATCH) return;
      after = { type: last.type, id: last.id };
    }
  }

  return {
    forgetRecord: (connectionId) =>
      db.tx(async (client) => {
        await client.query('DELETE FROM sync_checkpoints WHERE connection_id = $1', [connectionId]);
        await client.query('DELETE FROM sync_references WHERE connection_id = $1', [connectionId]);
        const { rowCount } = await client.query('DELETE FROM resources WHERE connection_id = $1', [
          connectionId,
        ]);
        return rowCount ?? 0;
      }),

    savePage: (page) =>
      guardWrite('resource', () =>
        db.tx(async (client): Promise<PageWriteResult> => {
          const result: PageWriteResult = { inserted: 0, updated: 0, unchanged: 0 };
          const { rows: found } = await client.query<Existing>(
            `SELECT type, id, version_id AS "versionId", last_updated AS "lastUpdated", json,
               deleted_at AS "deletedAt"
             FROM resources
             WHERE connection_id = $1 AND (type, id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
             FOR UPDATE`,
            [page.connectionId, page.resources.map((r) => r.type), page.resources.map((r) => r.id)],
          );
          const existing = new Map(found.map((row) => [`${row.type}\u0000${row.id}`, row]));
          // By key: a resource twice in one page is written once, as its last copy.
          const writes = new Map<string, Record<string, unknown>>();
          const stamped: { type: string; id: string }[] = [];
          for (const r of page.resources) {
            const key = `${r.type}\u0000${r.id}`;
            const row = existing.get(key);
            if (row) {
              // Same version: a no-op (only the sweep stamp moves). Without meta, the text decides.
              const sameMeta = row.versionId === r.versionId && row.lastUpdated === r.lastUpdated;
              const hasMeta = r.versionId !== null || r.lastUpdated !== null;
              if (row.deletedAt === null && sameMeta && (hasMeta || row.json === r.json)) {
                stamped.push({ type: r.type, id: r.id });
                result.unchanged++;
                continue;
              }
              result.updated++;
            } else result.inserted++;
            existing.set(key, { ...r, deletedAt: null });
            writes.set(key, {
              connection_id: page.connectionId,
              type: r.type,
              id: r.id,
              version_id: r.versionId,
              last_updated: r.lastUpdated,
              last_updated_ms: r.lastUpdatedMs,
              date_start: r.dateStart,
              date_end: r.dateEnd,
              json: r.json,
              practice_base: page.practiceBase,
              fetched_at: page.fetchedAt,
              source: page.source,
              sweep: page.sweep,
            });
          }
          if (writes.size > 0) {
            // One statement for the page; a row seen again comes back to life (deleted_at NULL).
            await client.query(
              `INSERT INTO resources (connection_id, type, id, version_id, last_updated,
                 last_updated_ms, date_start, date_end, json, practice_base, fetched_at, source,
                 sweep, deleted_at)
               SELECT connection_id, type, id, version_id, last_updated, last_updated_ms,
                 date_start, date_end, json, practice_base, fetched_at, source, sweep, NULL
               FROM json_populate_recordset(NULL::resources, $1::json)
               ON CONFLICT (connection_id, type, id) DO UPDATE SET
                 version_id = excluded.version_id, last_updated = excluded.last_updated,
                 last_updated_ms = excluded.last_updated_ms, date_start = excluded.date_start,
                 date_end = excluded.date_end, json = excluded.json,
                 practice_base = excluded.practice_base, fetched_at = excluded.fetched_at,
                 source = excluded.source, deleted_at = NULL,
                 sweep = COALESCE(excluded.sweep, resources.sweep)`,
              [JSON.stringify([...writes.values()])],
            );
          }
          if (page.sweep !== null && stamped.length > 0) {
            await client.query(
              `UPDATE resources SET sweep = $2
               WHERE connection_id = $1 AND (type, id) IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
              [page.connectionId, page.sweep, stamped.map((s) => s.type), stamped.map((s) => s.id)],
            );
          }
          const references = page.references ?? [];
          if (references.length > 0) {
            await client.query(
              `INSERT INTO sync_references
                 (connection_id, type, id, status, content_type, declared_size, reason, updated_at)
               SELECT $1, t, i, 'pending', ct, ds, NULL, $2
               FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[]) AS r(t, i, ct, ds)
               ON CONFLICT (connection_id, type, id) DO NOTHING`,
              [
                page.connectionId,
                page.fetchedAt,
                references.map((r) => r.type),
                references.map((r) => r.id),
                references.map((r) => r.contentType ?? null),
                references.map((r) => r.declaredSize ?? null),
              ],
            );
          }
          const resolved = page.resolved ?? [];
          if (resolved.length > 0) {
            await client.query(
              `UPDATE sync_references SET status = 'done', reason = NULL, updated_at = $2
               WHERE connection_id = $1 AND (type, id) IN (SELECT * FROM unnest($3::text[], $4::text[]))`,
              [
                page.connectionId,
                page.fetchedAt,
                resolved.map((r) => r.type),
                resolved.map((r) => r.id),
              ],
            );
          }
          if (page.checkpoint) await upsertCheckpoints(client, [page.checkpoint]);
          if (page.run) {
            let progress = page.run.progress;
            const countsFor = page.run.countsFor;
            const counted = countsFor === undefined ? undefined : progress[countsFor];
            if (countsFor !== undefined && counted) {
              progress = {
                ...progress,
                [countsFor]: {
                  ...counted,
                  inserted: (counted.inserted ?? 0) + result.inserted,
                  updated: (counted.updated ?? 0) + result.updated,
                  unchanged: (counted.unchanged ?? 0) + result.unchanged,
                },
              };
            }
            await saveRunProgress(client, page.run.id, progress, page.run.updatedAt);
          }
          return result;
        }),
      ),

    async get(connectionId, type, id, options = {}) {
      const { rows } = await db.query<StoredResource>(
        `${SELECT} WHERE connection_id = $1 AND type = $2 AND id = $3`,
        [connectionId, type, id],
      );
      const row = rows[0];
      if (!row || (row.deletedAt !== null && !options.includeDeleted)) return undefined;
      return row;
    },

    async list(query) {
      const { args, p } = parameters();
      const where = [
        `connection_id = ${p(query.connectionId)}`,
        `type = ${p(query.type)}`,
        'deleted_at IS NULL',
      ];
      if (query.afterId !== undefined) where.push(`id > ${p(query.afterId)}`);
      for (const f of query.lastUpdated ?? []) {
        where.push('last_updated_ms IS NOT NULL');
        where.push(dateCondition('last_updated_ms', '(last_updated_ms + 1)', f, p));
      }
      for (const f of query.date ?? []) {
        where.push('date_start IS NOT NULL');
        where.push(dateCondition('date_start', 'date_end', f, p));
      }
      for (const anyOf of query.code ?? []) where.push(tokenCondition(anyOf, p));
      const { rows } = await db.query<StoredResource>(
        `${SELECT} WHERE ${where.join(' AND ')} ORDER BY id LIMIT ${p(query.limit)}`,
        args,
      );
      return rows;
    },

    iterate: (connectionId, options = {}) => batches(connectionId, options.type),

    async countByType(connectionId) {
      const { rows } = await db.query<{ type: string; n: number }>(
        `SELECT type, count(*)::int AS n FROM resources
         WHERE connection_id = $1 AND deleted_at IS NULL GROUP BY type ORDER BY type`,
        [connectionId],
      );
      return Object.fromEntries(rows.map((r) => [r.type, r.n]));
    },

    async markUnseen(connectionId, type, sweep, at) {
      const { rowCount } = await db.query(
        `UPDATE resources SET deleted_at = $1
         WHERE connection_id = $2 AND type = $3 AND deleted_at IS NULL AND source <> 'read'
           AND (sweep IS NULL OR sweep <> $4)`,
        [at, connectionId, type, sweep],
      );
      return rowCount ?? 0;
    },
  };
}
