// Migrations of the SQLite store: applied once, recorded, checked against edits, atomic.
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.ts';
import { isBridgeError } from '../../common/errors.ts';
import { connection } from '../store.contract.ts';
import { openDatabase } from './database.ts';
import { openSqliteStore } from './index.ts';
import { DEFAULT_MIGRATIONS_DIR, loadMigrations } from './migrate.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-migrate-'));

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A scratch folder with a copy of the store's migrations and a database path beside it. */
function scratch() {
  const dir = mkdtempSync(join(root, 't-'));
  const migrationsDir = join(dir, 'migrations');
  cpSync(DEFAULT_MIGRATIONS_DIR, migrationsDir, { recursive: true });
  return { migrationsDir, path: join(dir, 'store.db') };
}

interface MigrationRow {
  version: number;
  name: string;
  checksum: string;
  applied_at: number;
}

const applied = (db: Database) =>
  db.prepare('SELECT * FROM schema_migrations ORDER BY version').all() as MigrationRow[];

function withDb<T>(options: Parameters<typeof openDatabase>[0], use: (db: Database) => T): T {
  const db = openDatabase(options);
  try {
    return use(db);
  } finally {
    db.close();
  }
}

function openError(options: Parameters<typeof openDatabase>[0]): unknown {
  try {
    openDatabase(options).close();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('sqlite migrations', () => {
  it('ships migration files that load in order with unique versions', () => {
    const migrations = loadMigrations(DEFAULT_MIGRATIONS_DIR);
    expect(migrations.length).toBeGreaterThan(0);
    expect(migrations[0]).toMatchObject({ version: 1, name: 'initial' });
    const versions = migrations.map((m) => m.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
  });

  it('applies every migration on a new file and records version, name, checksum and time', () => {
    const { path, migrationsDir } = scratch();
    const clock = new ManualClock(1_000);
    const expected = loadMigrations(migrationsDir);
    withDb({ path, migrationsDir, clock }, (db) => {
      expect(applied(db)).toEqual(
        expected.map((m) => ({
          version: m.version,
          name: m.name,
          checksum: m.checksum,
          applied_at: 1_000,
        })),
      );
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all()
        .map((r) => (r as { name: string }).name);
      expect(tables).toEqual(
        expect.arrayContaining(['api_keys', 'auth_sessions', 'connections', 'events', 'keys']),
      );
    });
  });

  it('re-opening applies nothing again', async () => {
    const { path, migrationsDir } = scratch();
    const clock = new ManualClock(1_000);
    const first = await openSqliteStore({ path, migrationsDir, clock });
    await first.connections.insert(connection());
    await first.close();

    clock.set(2_000);
    withDb({ path, migrationsDir, clock }, (db) => {
      expect(applied(db).map((r) => r.applied_at)).toEqual(
        loadMigrations(migrationsDir).map(() => 1_000),
      );
      expect(db.prepare('SELECT count(*) AS n FROM connections').get()).toEqual({ n: 1 });
    });
  });

  it('applies only the new migration when one is added', () => {
    const { path, migrationsDir } = scratch();
    const clock = new ManualClock(1_000);
    withDb({ path, migrationsDir, clock }, () => {});
    writeFileSync(
      join(migrationsDir, '900_add_notes.sql'),
      'CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL) STRICT;\n',
    );
    clock.set(2_000);
    withDb({ path, migrationsDir, clock }, (db) => {
      const rows = applied(db);
      expect(rows.at(-1)).toMatchObject({ version: 900, name: 'add_notes', applied_at: 2_000 });
      expect(rows.slice(0, -1).every((r) => r.applied_at === 1_000)).toBe(true);
      db.prepare("INSERT INTO notes VALUES ('n1', 'works')").run();
    });
  });

  it('refuses a database whose applied migration was edited afterwards', () => {
    const { path, migrationsDir } = scratch();
    withDb({ path, migrationsDir }, () => {});
    const file = join(migrationsDir, '001_initial.sql');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\nCREATE TABLE sneaky (x INTEGER);\n`);
    const error = openError({ path, migrationsDir });
    expect(isBridgeError(error, 'invalid_config')).toBe(true);
    expect((error as Error).message).toMatch(/001_initial\.sql.*checksum mismatch/);
  });

  it('does not count CRLF line endings as an edit', () => {
    const { path, migrationsDir } = scratch();
    withDb({ path, migrationsDir }, () => {});
    const file = join(migrationsDir, '001_initial.sql');
    writeFileSync(file, readFileSync(file, 'utf8').replace(/\n/g, '\r\n'));
    expect(openError({ path, migrationsDir })).toBeUndefined();
  });

  it('rolls a failing migration back whole and does not record it', () => {
    const { path, migrationsDir } = scratch();
    const bad = join(migrationsDir, '900_half.sql');
    writeFileSync(bad, 'CREATE TABLE half (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n');
    const error = openError({ path, migrationsDir });
    expect(String(error)).toMatch(/no_such_table/);

    // The migrations before it stay applied; the failed one left nothing behind.
    rmSync(bad);
    withDb({ path, migrationsDir }, (db) => {
      expect(applied(db).some((r) => r.version === 900)).toBe(false);
      const half = db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get();
      expect(half).toBeUndefined();
    });
  });

  it('refuses a database migrated by a newer build', () => {
    const { path, migrationsDir } = scratch();
    const future = join(migrationsDir, '900_future.sql');
    writeFileSync(future, 'CREATE TABLE future (x INTEGER);\n');
    withDb({ path, migrationsDir }, () => {});
    rmSync(future);
    const error = openError({ path, migrationsDir });
    expect(isBridgeError(error, 'invalid_config')).toBe(true);
    expect((error as Error).message).toMatch(/migration 900 \(future\)/);
  });

  it('refuses misnamed and duplicate-version files before creating the database', () => {
    const { path, migrationsDir } = scratch();
    writeFileSync(join(migrationsDir, 'README.md'), 'not a migration, ignored');
    writeFileSync(join(migrationsDir, '2_oops.sql'), 'SELECT 1;');
    expect(isBridgeError(openError({ path, migrationsDir }), 'invalid_config')).toBe(true);
    expect(existsSync(path)).toBe(false);

    rmSync(join(migrationsDir, '2_oops.sql'));
    writeFileSync(join(migrationsDir, '001_again.sql'), 'SELECT 1;');
    expect(String(openError({ path, migrationsDir }))).toMatch(/share version 1/);

    rmSync(join(migrationsDir, '001_again.sql'));
    expect(openError({ path, migrationsDir })).toBeUndefined();
    expect(readdirSync(migrationsDir)).toContain('README.md');
  });
});
