// Schema migrations for the SQLite store: ordered `NNN_name.sql` files, each applied once in
// its own transaction and recorded with a checksum in `schema_migrations`.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';
import type { Clock } from '../../common/clock.ts';
import { BridgeError } from '../../common/errors.ts';

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
  /** SHA-256 (hex) of the file with line endings normalised, so a CRLF checkout still matches. */
  checksum: string;
}

const FILE_NAME = /^(\d{3})_([a-z0-9_]+)\.sql$/;

/** Reads the migration files of `dir`, ordered by version. */
export function loadMigrations(dir: string): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const match = FILE_NAME.exec(file);
    if (!match) {
      // A misnamed file would otherwise be skipped silently and its schema never applied.
      throw new BridgeError('invalid_config', `migration file "${file}" is not named NNN_name.sql`);
    }
    const version = Number(match[1]);
    const previous = migrations.at(-1);
    if (previous?.version === version) {
      throw new BridgeError(
        'invalid_config',
        `migrations "${previous.name}" and "${match[2]}" share version ${version}`,
      );
    }
    const sql = readFileSync(join(dir, file), 'utf8').replace(/\r\n/g, '\n');
    const checksum = createHash('sha256').update(sql).digest('hex');
    migrations.push({ version, name: match[2] ?? '', sql, checksum });
  }
  return migrations;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/**
 * Applies the migrations not yet recorded, oldest first. Each runs in an IMMEDIATE transaction
 * that re-reads `schema_migrations` first, so two processes opening one file at once apply each
 * migration exactly once. Returns the versions applied by this call.
 */
export function migrate(db: Database, migrations: readonly Migration[], clock: Clock): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    applied_at  INTEGER NOT NULL
  ) STRICT`);
  const selectApplied = db.prepare<[], AppliedRow>(
    'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
  );
  const selectOne = db.prepare<[number], AppliedRow>(
    'SELECT version, name, checksum FROM schema_migrations WHERE version = ?',
  );
  const record = db.prepare<[number, string, string, number]>(
    'INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)',
  );

  const known = new Map(migrations.map((m) => [m.version, m]));
  for (const row of selectApplied.all()) {
    if (!known.has(row.version)) {
      // The database was migrated by a newer build; running older code on it is unsafe.
      throw new BridgeError(
        'invalid_config',
        `database has migration ${row.version} (${row.name}) that this build does not know`,
        { details: { version: row.version, name: row.name } },
      );
    }
  }

  const applied: number[] = [];
  for (const migration of migrations) {
    const apply = db.transaction(() => {
      const row = selectOne.get(migration.version);
      if (row) {
        checkUnchanged(row, migration);
        return;
      }
      db.exec(migration.sql);
      record.run(migration.version, migration.name, migration.checksum, clock.now());
      applied.push(migration.version);
    });
    apply.immediate();
  }
  return applied;
}

function checkUnchanged(row: AppliedRow, migration: Migration): void {
  if (row.checksum === migration.checksum) return;
  const file = `${String(migration.version).padStart(3, '0')}_${migration.name}.sql`;
  // Editing an applied migration means this database and a fresh one would differ; add a new
  // migration instead.
  throw new BridgeError(
    'invalid_config',
    `migration ${file} was changed after it was applied (checksum mismatch); add a new migration instead`,
    { details: { version: migration.version, name: migration.name } },
  );
}
