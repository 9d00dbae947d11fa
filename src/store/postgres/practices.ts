// The `practices` table: directory, operator and config practices with their health, and the
// all-or-nothing replacement of one source's listing (one transaction under the source's
// advisory lock: two imports never interleave their diffs).
import type {
  PracticeFilter,
  PracticeListing,
  PracticePatch,
  PracticeRecord,
  PracticeRepository,
  PracticeSource,
  ReplaceSourceResult,
} from '../port.ts';
import { guardWrite, LOCK_KEY, type PostgresDb, parameters, type Queryable } from './database.ts';

const LISTING_COLUMNS = {
  id: 'id',
  name: 'name',
  base: 'base',
  vendor: 'vendor',
  registration: 'registration',
  organizationName: 'organization_name',
  addressLine: 'address_line',
  city: 'city',
  state: 'state',
  postalCode: 'postal_code',
} as const satisfies { [F in keyof Required<PracticeListing>]: string };

const SELECT = `SELECT ${Object.entries(LISTING_COLUMNS)
  .map(([f, c]) => `${c} AS "${f}"`)
  .join(', ')}, source, status, status_reason AS "statusReason",
  last_checked_at AS "lastCheckedAt", discovery_ok AS "discoveryOk", last_error AS "lastError",
  imported_at AS "importedAt", updated_at AS "updatedAt" FROM practices`;

type PracticeRow = Omit<PracticeRecord, 'health'> & PracticeRecord['health'];

function fromRow({ lastCheckedAt, discoveryOk, lastError, ...rest }: PracticeRow): PracticeRecord {
  return { ...rest, health: { lastCheckedAt, discoveryOk, lastError } };
}

/** Every column of a record, in the order of INSERT_SQL's placeholders. */
function recordValues(r: PracticeRecord): unknown[] {
  return [
    ...Object.keys(LISTING_COLUMNS).map((f) => r[f as keyof PracticeListing]),
    r.source,
    r.status,
    r.statusReason,
    r.health.lastCheckedAt,
    r.health.discoveryOk,
    r.health.lastError,
    r.importedAt,
    r.updatedAt,
  ];
}

const ALL_COLUMNS = [
  ...Object.values(LISTING_COLUMNS),
  'source',
  'status',
  'status_reason',
  'last_checked_at',
  'discovery_ok',
  'last_error',
  'imported_at',
  'updated_at',
];

const INSERT_SQL = `INSERT INTO practices (${ALL_COLUMNS.join(', ')})
  VALUES (${ALL_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;

/** Who may take over a record of another source: config wins over the directory; anyone over a vanished record. */
function canTakeOver(row: PracticeRecord, source: PracticeSource): boolean {
  if (row.source === source) return true;
  if (row.source === 'operator') return false;
  return row.status === 'vanished' || (source === 'config' && row.source === 'directory');
}

function sameListing(row: PracticeRecord, listing: PracticeListing): boolean {
  return (Object.keys(LISTING_COLUMNS) as (keyof PracticeListing)[]).every(
    (key) => row[key] === listing[key],
  );
}

const VANISHED_REASON: Record<Exclude<PracticeSource, 'operator'>, string> = {
  directory: 'no longer in the endpoint directory',
  config: 'no longer in the configuration',
};

function where(filter: PracticeFilter, p: (value: unknown) => string): string {
  const parts = ['TRUE'];
  if (filter.status) parts.push(`status = ANY(${p(filter.status)}::text[])`);
  if (filter.source) parts.push(`source = ${p(filter.source)}`);
  return parts.join(' AND ');
}

/** What an import writes over a known record: its listing and status, never health or first import. */
const IMPORT_WRITES = ALL_COLUMNS.filter(
  (c) => !['id', 'imported_at', 'last_checked_at', 'discovery_ok', 'last_error'].includes(c),
);

/** Writes many records in one statement: a JSON array expanded by the server. */
async function upsertAll(client: Queryable, records: PracticeRecord[]): Promise<void> {
  if (records.length === 0) return;
  const rows = records.map((r) => {
    const values = recordValues(r);
    return Object.fromEntries(ALL_COLUMNS.map((c, i) => [c, values[i]]));
  });
  const updates = IMPORT_WRITES.map((c) => `${c} = excluded.${c}`).join(', ');
  await client.query(
    `INSERT INTO practices (${ALL_COLUMNS.join(', ')})
     SELECT ${ALL_COLUMNS.join(', ')} FROM json_populate_recordset(NULL::practices, $1::json)
     ON CONFLICT (id) DO UPDATE SET ${updates}`,
    [JSON.stringify(rows)],
  );
}

export function createPracticeRepository(db: PostgresDb): PracticeRepository {
  const replace = (
    source: Exclude<PracticeSource, 'operator'>,
    listings: readonly PracticeListing[],
    now: number,
  ) =>
    db.tx(async (client): Promise<ReplaceSourceResult> => {
      await client.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`, ['practices:replace']);
      const result: ReplaceSourceResult = {
        added: 0,
        updated: 0,
        unchanged: 0,
        vanished: 0,
        skipped: [],
      };
      // The whole table, once: the diff runs here, the writes go back in one statement.
      const { rows } = await client.query<PracticeRow>(`${SELECT} FOR UPDATE`);
      const byId = new Map(rows.map((row) => [row.id, fromRow(row)]));
      const liveByBase = new Map<string, Set<string>>();
      const track = (r: PracticeRecord, on: boolean) => {
        if (r.status === 'vanished') return;
        const ids = liveByBase.get(r.base) ?? new Set<string>();
        if (on) ids.add(r.id);
        else ids.delete(r.id);
        liveByBase.set(r.base, ids);
      };
      for (const r of byId.values()) track(r, true);
      const written = new Map<string, PracticeRecord>();
      const listed = new Set<string>();
      for (const listing of listings) {
        const row = byId.get(listing.id);
        if (row && !canTakeOver(row, source)) {
          result.skipped.push({
            id: listing.id,
            reason: `id belongs to ${row.source === 'operator' ? 'an' : 'a'} ${row.source} practice`,
          });
          continue;
        }
        const clash = [...(liveByBase.get(listing.base) ?? [])].find((id) => id !== listing.id);
        if (clash) {
          result.skipped.push({ id: listing.id, reason: `base is used by practice ${clash}` });
          continue;
        }
        listed.add(listing.id);
        let next: PracticeRecord;
        if (!row) {
          next = {
            ...listing,
            source,
            status: 'active',
            statusReason: null,
            health: { lastCheckedAt: null, discoveryOk: null, lastError: null },
            importedAt: now,
            updatedAt: now,
          };
          result.added++;
        } else if (
          row.source === source &&
          row.status !== 'vanished' &&
          sameListing(row, listing)
        ) {
          result.unchanged++;
          continue;
        } else {
          // A disabled practice stays disabled: that is the operator's decision, not the source's.
          const returning = row.status === 'vanished';
          next = {
            ...row,
            ...listing,
            source,
            status: returning ? 'active' : row.status,
            statusReason: returning ? null : row.statusReason,
            updatedAt: now,
          };
          result.updated++;
        }
        if (row) track(row, false);
        track(next, true);
        byId.set(next.id, next);
        written.set(next.id, next);
      }
      for (const r of byId.values()) {
        if (r.source !== source || r.status !== 'active' || listed.has(r.id)) continue;
        written.set(r.id, {
          ...r,
          status: 'vanished',
          statusReason: VANISHED_REASON[source],
          updatedAt: now,
        });
        result.vanished++;
      }
      await upsertAll(client, [...written.values()]);
      return result;
    });

  return {
    async get(id) {
      const { rows } = await db.query<PracticeRow>(`${SELECT} WHERE id = $1`, [id]);
      return rows[0] && fromRow(rows[0]);
    },
    async byBase(base) {
      const { rows } = await db.query<PracticeRow>(
        `${SELECT} WHERE base = $1
         ORDER BY CASE status WHEN 'active' THEN 0 WHEN 'disabled' THEN 1 ELSE 2 END,
           CASE source WHEN 'config' THEN 0 WHEN 'operator' THEN 1 ELSE 2 END, id
         LIMIT 1`,
        [base],
      );
      return rows[0] && fromRow(rows[0]);
    },
    async list({ limit, offset = 0, ...filter }) {
      const { args, p } = parameters();
      const { rows } = await db.query<PracticeRow>(
        `${SELECT} WHERE ${where(filter, p)}
         ORDER BY lower(name) COLLATE "C", id LIMIT ${p(limit)} OFFSET ${p(offset)}`,
        args,
      );
      return rows.map(fromRow);
    },
    async count(filter = {}) {
      const { args, p } = parameters();
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM practices WHERE ${where(filter, p)}`,
        args,
      );
      return rows[0]?.n ?? 0;
    },
    async changeMark() {
      const { rows } = await db.query<{ n: number; total: string }>(
        'SELECT count(*)::int AS n, coalesce(sum(updated_at), 0)::text AS total FROM practices',
      );
      return `${rows[0]?.n ?? 0}:${rows[0]?.total ?? 0}`;
    },
    async insert(record) {
      await guardWrite('practice', () => db.query(INSERT_SQL, recordValues(record)));
    },
    async update(id, patch: PracticePatch) {
      const { args, p } = parameters();
      const sets: string[] = [];
      for (const [field, value] of Object.entries(patch)) {
        if (value === undefined) continue;
        if (field === 'health') {
          const health = value as PracticeRecord['health'];
          sets.push(
            `last_checked_at = ${p(health.lastCheckedAt)}`,
            `discovery_ok = ${p(health.discoveryOk)}`,
            `last_error = ${p(health.lastError)}`,
          );
        } else if (field === 'status') sets.push(`status = ${p(value)}`);
        else if (field === 'statusReason') sets.push(`status_reason = ${p(value)}`);
        else if (field === 'updatedAt') sets.push(`updated_at = ${p(value)}`);
        else sets.push(`${LISTING_COLUMNS[field as keyof typeof LISTING_COLUMNS]} = ${p(value)}`);
      }
      if (sets.length === 0) sets.push('id = id');
      const { rowCount } = await db.query(
        `UPDATE practices SET ${sets.join(', ')} WHERE id = ${p(id)}`,
        args,
      );
      return (rowCount ?? 0) > 0;
    },
    replaceSource: (source, listings, now) => replace(source, listings, now),
  };
}
