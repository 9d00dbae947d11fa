// The `practices` table: directory, operator and config practices with their health, the
// row <-> PracticeRecord mapping, and the all-or-nothing replacement of one source's listing.
import type { Database } from 'better-sqlite3';
import type {
  PracticeFilter,
  PracticeListing,
  PracticePatch,
  PracticeRecord,
  PracticeRepository,
  PracticeSource,
  PracticeStatus,
  PracticeVendor,
  ReplaceSourceResult,
} from '../port.ts';
import { guardWrite } from './constraints.ts';

interface PracticeRow {
  id: string;
  name: string;
  base: string;
  vendor: string;
  registration: string | null;
  source: PracticeSource;
  organization_name: string | null;
  address_line: string | null;
  city: string | null;
  state: string | null;
  postal_code: string | null;
  status: PracticeStatus;
  status_reason: string | null;
  last_checked_at: number | null;
  discovery_ok: number | null;
  last_error: string | null;
  imported_at: number;
  updated_at: number;
}

function toRow(record: PracticeRecord): PracticeRow {
  return {
    ...listingColumns(record),
    source: record.source,
    status: record.status,
    status_reason: record.statusReason,
    last_checked_at: record.health.lastCheckedAt,
    discovery_ok: record.health.discoveryOk === null ? null : Number(record.health.discoveryOk),
    last_error: record.health.lastError,
    imported_at: record.importedAt,
    updated_at: record.updatedAt,
  };
}

type ListingColumns = Pick<
  PracticeRow,
  | 'id'
  | 'name'
  | 'base'
  | 'vendor'
  | 'registration'
  | 'organization_name'
  | 'address_line'
  | 'city'
  | 'state'
  | 'postal_code'
>;

function listingColumns(listing: PracticeListing): ListingColumns {
  return {
    id: listing.id,
    name: listing.name,
    base: listing.base,
    vendor: listing.vendor,
    registration: listing.registration,
    organization_name: listing.organizationName,
    address_line: listing.addressLine,
    city: listing.city,
    state: listing.state,
    postal_code: listing.postalCode,
  };
}

function fromRow(row: PracticeRow): PracticeRecord {
  return {
    id: row.id,
    name: row.name,
    base: row.base,
    vendor: row.vendor as PracticeVendor,
    registration: row.registration,
    organizationName: row.organization_name,
    addressLine: row.address_line,
    city: row.city,
    state: row.state,
    postalCode: row.postal_code,
    source: row.source,
    status: row.status,
    statusReason: row.status_reason,
    health: {
      lastCheckedAt: row.last_checked_at,
      discoveryOk: row.discovery_ok === null ? null : row.discovery_ok === 1,
      lastError: row.last_error,
    },
    importedAt: row.imported_at,
    updatedAt: row.updated_at,
  };
}

const LISTING_KEYS = [
  'name',
  'base',
  'vendor',
  'registration',
  'organization_name',
  'address_line',
  'city',
  'state',
  'postal_code',
] as const satisfies readonly (keyof ListingColumns)[];

function sameListing(row: PracticeRow, listing: ListingColumns): boolean {
  return LISTING_KEYS.every((key) => row[key] === listing[key]);
}

/** Every patchable field and the columns it writes; `Required` flags a forgotten field. */
const PATCH_COLUMNS: {
  [F in keyof Required<PracticePatch>]: (value: Required<PracticePatch>[F]) => Partial<PracticeRow>;
} = {
  name: (v) => ({ name: v }),
  base: (v) => ({ base: v }),
  vendor: (v) => ({ vendor: v }),
  registration: (v) => ({ registration: v }),
  organizationName: (v) => ({ organization_name: v }),
  addressLine: (v) => ({ address_line: v }),
  city: (v) => ({ city: v }),
  state: (v) => ({ state: v }),
  postalCode: (v) => ({ postal_code: v }),
  status: (v) => ({ status: v }),
  statusReason: (v) => ({ status_reason: v }),
  health: (v) => ({
    last_checked_at: v.lastCheckedAt,
    discovery_ok: v.discoveryOk === null ? null : Number(v.discoveryOk),
    last_error: v.lastError,
  }),
  updatedAt: (v) => ({ updated_at: v }),
};

const PATCHABLE = [
  'name',
  'base',
  'vendor',
  'registration',
  'organization_name',
  'address_line',
  'city',
  'state',
  'postal_code',
  'status',
  'status_reason',
  'last_checked_at',
  'discovery_ok',
  'last_error',
  'updated_at',
] as const satisfies readonly (keyof PracticeRow)[];

/** `set_<column>` = 1 for each column the patch writes, and its value (see connections.ts). */
function patchParams(patch: PracticePatch): Record<string, string | number | null> {
  const columns: Partial<PracticeRow> = {};
  for (const [field, toColumns] of Object.entries(PATCH_COLUMNS)) {
    const value = patch[field as keyof PracticePatch];
    if (value === undefined) continue;
    Object.assign(columns, (toColumns as (v: unknown) => Partial<PracticeRow>)(value));
  }
  const params: Record<string, string | number | null> = {};
  for (const column of PATCHABLE) {
    const value = columns[column];
    params[`set_${column}`] = value === undefined ? 0 : 1;
    params[column] = value ?? null;
  }
  return params;
}

/** Who may take over a record of another source: config wins over the directory; anyone over a vanished record. */
function canTakeOver(row: PracticeRow, source: PracticeSource): boolean {
  if (row.source === source) return true;
  if (row.source === 'operator') return false;
  return row.status === 'vanished' || (source === 'config' && row.source === 'directory');
}

const VANISHED_REASON: Record<Exclude<PracticeSource, 'operator'>, string> = {
  directory: 'no longer in the endpoint directory',
  config: 'no longer in the configuration',
};

export function createPracticeRepository(db: Database): PracticeRepository {
  const get = db.prepare<[string], PracticeRow>('SELECT * FROM practices WHERE id = ?');
  const byBase = db.prepare<[string], PracticeRow>(
    `SELECT * FROM practices WHERE base = ?
     ORDER BY CASE status WHEN 'active' THEN 0 WHEN 'disabled' THEN 1 ELSE 2 END,
       CASE source WHEN 'config' THEN 0 WHEN 'operator' THEN 1 ELSE 2 END, id
     LIMIT 1`,
  );
  // One statement for every filter: NULL means "any"; statuses arrive as a JSON array.
  const where = `(@statuses IS NULL OR status IN (SELECT value FROM json_each(@statuses)))
     AND (@source IS NULL OR source = @source)`;
  const list = db.prepare<[Record<string, string | number | null>], PracticeRow>(
    `SELECT * FROM practices WHERE ${where}
     ORDER BY name COLLATE NOCASE, id LIMIT @limit OFFSET @offset`,
  );
  const count = db.prepare<[Record<string, string | number | null>], { n: number }>(
    `SELECT count(*) AS n FROM practices WHERE ${where}`,
  );
  const changeMark = db.prepare<[], { n: number; total: number }>(
    'SELECT count(*) AS n, total(updated_at) AS total FROM practices',
  );
  const insert = db.prepare<[PracticeRow]>(
    `INSERT INTO practices (id, name, base, vendor, registration, source, organization_name,
       address_line, city, state, postal_code, status, status_reason, last_checked_at,
       discovery_ok, last_error, imported_at, updated_at)
     VALUES (@id, @name, @base, @vendor, @registration, @source, @organization_name,
       @address_line, @city, @state, @postal_code, @status, @status_reason, @last_checked_at,
       @discovery_ok, @last_error, @imported_at, @updated_at)`,
  );
  const update = db.prepare<[Record<string, string | number | null>]>(
    `UPDATE practices SET
       ${PATCHABLE.map((c) => `${c} = CASE WHEN @set_${c} = 1 THEN @${c} ELSE ${c} END`).join(
         ',\n       ',
       )}
     WHERE id = @id`,
  );
  const baseClash = db.prepare<[string, string], { id: string }>(
    `SELECT id FROM practices WHERE base = ? AND id <> ? AND status <> 'vanished' LIMIT 1`,
  );
  const writeListing = db.prepare<
    [ListingColumns & Pick<PracticeRow, 'source' | 'status' | 'status_reason' | 'updated_at'>]
  >(
    `UPDATE practices SET name = @name, base = @base, vendor = @vendor,
       registration = @registration, organization_name = @organization_name,
       address_line = @address_line, city = @city, state = @state, postal_code = @postal_code,
       source = @source, status = @status, status_reason = @status_reason,
       updated_at = @updated_at
     WHERE id = @id`,
  );
  const liveOfSource = db.prepare<[string], { id: string }>(
    `SELECT id FROM practices WHERE source = ? AND status = 'active'`,
  );
  const vanish = db.prepare<[string, number, string]>(
    `UPDATE practices SET status = 'vanished', status_reason = ?, updated_at = ? WHERE id = ?`,
  );

  const filterParams = (filter: PracticeFilter) => ({
    statuses: filter.status ? JSON.stringify(filter.status) : null,
    source: filter.source ?? null,
  });

  const replace = db.transaction(
    (
      source: Exclude<PracticeSource, 'operator'>,
      listings: readonly PracticeListing[],
      now: number,
    ): ReplaceSourceResult => {
      const result: ReplaceSourceResult = {
        added: 0,
        updated: 0,
        unchanged: 0,
        vanished: 0,
        skipped: [],
      };
      const listed = new Set<string>();
      for (const listing of listings) {
        const columns = listingColumns(listing);
        const row = get.get(listing.id);
        if (row && !canTakeOver(row, source)) {
          result.skipped.push({
            id: listing.id,
            reason: `id belongs to ${row.source === 'operator' ? 'an' : 'a'} ${row.source} practice`,
          });
          continue;
        }
        const clash = baseClash.get(listing.base, listing.id);
        if (clash) {
          result.skipped.push({ id: listing.id, reason: `base is used by practice ${clash.id}` });
          continue;
        }
        listed.add(listing.id);
        if (!row) {
          insert.run({
            ...columns,
            source,
            status: 'active',
            status_reason: null,
            last_checked_at: null,
            discovery_ok: null,
            last_error: null,
            imported_at: now,
            updated_at: now,
          });
          result.added++;
        } else if (
          row.source === source &&
          row.status !== 'vanished' &&
          sameListing(row, columns)
        ) {
          result.unchanged++;
        } else {
          // A disabled practice stays disabled: that is the operator's decision, not the source's.
          const returning = row.status === 'vanished';
          writeListing.run({
            ...columns,
            source,
            status: returning ? 'active' : row.status,
            status_reason: returning ? null : row.status_reason,
            updated_at: now,
          });
          result.updated++;
        }
      }
      for (const { id } of liveOfSource.all(source)) {
        if (listed.has(id)) continue;
        vanish.run(VANISHED_REASON[source], now, id);
        result.vanished++;
      }
      return result;
    },
  );

  return {
    async get(id) {
      const row = get.get(id);
      return row && fromRow(row);
    },
    async byBase(base) {
      const row = byBase.get(base);
      return row && fromRow(row);
    },
    async list({ limit, offset = 0, ...filter }) {
      return list.all({ ...filterParams(filter), limit, offset }).map(fromRow);
    },
    async count(filter = {}) {
      return count.get(filterParams(filter))?.n ?? 0;
    },
    async changeMark() {
      const mark = changeMark.get();
      return `${mark?.n ?? 0}:${mark?.total ?? 0}`;
    },
    async insert(record) {
      guardWrite('practice', () => insert.run(toRow(record)));
    },
    async update(id, patch) {
      return update.run({ ...patchParams(patch), id }).changes > 0;
    },
    async replaceSource(source, listings, now) {
      // IMMEDIATE: take the write lock first, so the diff reads what the writes then change.
      return replace.immediate(source, listings, now);
    },
  };
}
