// Schema migrations for the PostgreSQL store: the same `NNN_name.sql` files and checksums as the
// SQLite store's runner (loadMigrations), applied under an advisory lock so that several
// processes starting at once against one schema migrate it exactly once.
import { fileURLToPath } from 'node:url';
import type { Clock } from '../../common/clock.ts';
import { BridgeError } from '../../common/errors.ts';
import type { Migration } from '../sqlite/migrate.ts';
import type { PostgresDb, Queryable } from './database.ts';

export { loadMigrations } from '../sqlite/migrate.ts';

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/**
 * Creates the schema when missing and applies the migrations not yet recorded, oldest first,
 * each in its own transaction. A session advisory lock keyed by the schema serializes runners:
 * the second one waits, then finds everything applied. Returns the versions this call applied.
 */
export async function migrate(
  db: PostgresDb,
  migrations: readonly Migration[],
  clock: Clock,
): Promise<number[]> {
  return db.session(async (client) => {
    // current_schema() is NULL until the schema exists, so the lock names it explicitly.
    await client.query(
      "SELECT pg_advisory_lock(hashtextextended('fhirbridge:migrate:' || $1, 0))",
      [db.schema],
    );
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${db.schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version     INTEGER PRIMARY KEY,
        name        TEXT NOT NULL,
        checksum    TEXT NOT NULL,
        applied_at  BIGINT NOT NULL
      )`);
      const applied = await appliedRows(client);
      const known = new Map(migrations.map((m) => [m.version, m]));
      for (const row of applied.values()) {
        if (!known.has(row.version)) {
          // The database was migrated by a newer build; running older code on it is unsafe.
          throw new BridgeError(
            'invalid_config',
            `database has migration ${row.version} (${row.name}) that this build does not know`,
            { details: { version: row.version, name: row.name } },
          );
        }
      }
      const done: number[] = [];
      for (const migration of migrations) {
        const row = applied.get(migration.version);
        if (row) {
          checkUnchanged(row, migration);
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query(
            'INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)',
            [migration.version, migration.name, migration.checksum, clock.now()],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
        done.push(migration.version);
      }
      return done;
    } finally {
      // Should the unlock fail, the error closes this session, which releases the lock.
      await client.query(
        "SELECT pg_advisory_unlock(hashtextextended('fhirbridge:migrate:' || $1, 0))",
        [db.schema],
      );
    }
  });
}

async function appliedRows(client: Queryable): Promise<Map<number, AppliedRow>> {
  const { rows } = await client.query<AppliedRow>(
    'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
  );
  return new Map(rows.map((row) => [row.version, row]));
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
