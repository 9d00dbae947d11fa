// Opens the SQLite file: creates its folder and the file private, sets the pragmas every connection needs and brings
// the schema up to date.
import { dirname } from 'node:path';
import Sqlite, { type Database } from 'better-sqlite3';
import { type Clock, systemClock } from '../../common/clock.ts';
import { ensurePrivateDir, ensurePrivateFile } from '../../config/private-files.ts';
import { DEFAULT_MIGRATIONS_DIR, loadMigrations, migrate } from './migrate.ts';

export interface SqliteOptions {
  /** A file path, or `:memory:` for a private in-memory database. */
  path: string;
  /** Where the `NNN_name.sql` files live; the store's own by default (tests point elsewhere). */
  migrationsDir?: string;
  /** Stamps `schema_migrations.applied_at`. */
  clock?: Clock;
  /** How long a write waits for another connection's lock before failing (ms). */
  busyTimeoutMs?: number;
}

export function openDatabase({
  path,
  migrationsDir = DEFAULT_MIGRATIONS_DIR,
  clock = systemClock,
  busyTimeoutMs = 5000,
}: SqliteOptions): Database {
  // Read the migrations before touching the file, so a bad migration set leaves no empty file.
  const migrations = loadMigrations(migrationsDir);
  if (path !== ':memory:' && !path.startsWith('file:')) {
    // Patient records: the folder 0700 and the file 0600 (its WAL and SHM follow its mode).
    ensurePrivateDir(dirname(path));
    ensurePrivateFile(path);
  }
  const db = new Sqlite(path);
  try {
    // busy_timeout first: switching to WAL needs a lock another process may hold.
    db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    // WAL: readers never block the writer, and a crash loses no committed transaction.
    db.pragma('journal_mode = WAL');
    // NORMAL is durable against application crashes in WAL mode; only power loss may drop
    // the last commits, which is the documented trade-off for not fsyncing every commit.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db, migrations, clock);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
