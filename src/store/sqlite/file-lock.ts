// A lock shared by every process that opens one SQLite store, held while an async task runs:
// a write transaction (BEGIN IMMEDIATE) on a small lock file of its own beside the store, on a
// connection of its own. The store's own connection stays free, so the task writes to the store
// as usual; another process's BEGIN IMMEDIATE on the lock file finds it busy and tries again a
// little later. The operating system drops the file lock of a process that dies, so a crash
// never leaves the lock held.
import { setTimeout as sleep } from 'node:timers/promises';
import Sqlite, { type Database } from 'better-sqlite3';
import { ensurePrivateFile } from '../../config/private-files.ts';

export interface FileLock {
  /** Runs `task` while holding the lock; one task at a time in this process as well. */
  run<T>(task: () => Promise<T>): Promise<T>;
  close(): void;
}

export interface FileLockOptions {
  /** How long to wait before trying again while another process holds the lock. */
  retryMs?: number;
}

/** The lock file beside a store file. */
export const lockPathOf = (storePath: string): string => `${storePath}-lock`;

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

export function openFileLock(path: string, { retryMs = 10 }: FileLockOptions = {}): FileLock {
  ensurePrivateFile(path);
  let db: Database | undefined;
  let tail: Promise<unknown> = Promise.resolve();

  /** Opened on first use: a store that never takes the lock never creates a connection for it. */
  const connection = (): Database => {
    if (!db) {
      db = new Sqlite(path);
      // Never wait inside SQLite: that would block this process's event loop.
      db.pragma('busy_timeout = 0');
    }
    return db;
  };

  async function acquire(): Promise<Database> {
    for (;;) {
      const lockDb = connection();
      try {
        lockDb.exec('BEGIN IMMEDIATE');
        return lockDb;
      } catch (error) {
        if (!isBusy(error)) throw error;
      }
      await sleep(retryMs);
    }
  }

  async function holding<T>(task: () => Promise<T>): Promise<T> {
    const lockDb = await acquire();
    try {
      return await task();
    } finally {
      if (lockDb.open && lockDb.inTransaction) lockDb.exec('ROLLBACK');
    }
  }

  return {
    run(task) {
      const result = tail.then(
        () => holding(task),
        () => holding(task),
      );
      tail = result.catch(() => undefined);
      return result;
    },
    close() {
      if (db?.open) db.close();
    },
  };
}
