// The data folder and the files holding patient records are the service user's alone: the folder
// 0700, the SQLite database (its WAL and SHM too) and exports 0600. Created so, and checked at
// start, since a folder made by hand or a restored backup may be wider.
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './schema.ts';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates the folder (and missing parents) as 0700; an existing one is left as it is. */
export function ensurePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Creates an empty file as 0600 unless it exists. SQLite gives the WAL and SHM files the
 * database file's mode, so creating the database this way makes all three private.
 */
export function ensurePrivateFile(path: string): void {
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
}

export interface ModeProblem {
  path: string;
  /** The mode found, e.g. "644". */
  mode: string;
  /** The widest mode allowed, e.g. "600". */
  expected: string;
}

/** The given paths that exist and let group or others in (missing ones are no problem). */
export function widerThanPrivate(paths: Array<{ path: string; dir?: boolean }>): ModeProblem[] {
  const problems: ModeProblem[] = [];
  for (const { path, dir } of paths) {
    let mode: number;
    try {
      mode = statSync(path).mode & 0o777;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const allowed = dir ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE;
    if ((mode & ~allowed) !== 0) {
      problems.push({ path, mode: mode.toString(8), expected: allowed.toString(8) });
    }
  }
  return problems;
}

/** The data folder and the SQLite files of a configuration, as widerThanPrivate checks them. */
export function privatePathsOf(config: Pick<Config, 'dataDir' | 'store'>) {
  // A PostgreSQL store keeps no file here: its server guards its own files.
  if (config.store.kind !== 'sqlite') return [{ path: config.dataDir, dir: true }];
  const db = config.store.path ?? join(config.dataDir, 'fhirbridge.db');
  return [
    { path: config.dataDir, dir: true },
    { path: db },
    { path: `${db}-wal` },
    { path: `${db}-shm` },
  ];
}
