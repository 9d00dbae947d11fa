// The SQLite adapter of the store port: one better-sqlite3 connection per store, statements
// prepared once at open. The embedded default; postgres is the scale-out adapter.
import type { Store } from '../port.ts';
import { createApiKeyRepository } from './api-keys.ts';
import { createAuthSessionRepository } from './auth-sessions.ts';
import { createConnectionRepository } from './connections.ts';
import { openDatabase, type SqliteOptions } from './database.ts';
import { createEventRepository } from './events.ts';
import { type FileLock, lockPathOf, openFileLock } from './file-lock.ts';
import { createJobRepository } from './jobs.ts';
import { createKeyRepository } from './keys.ts';
import { createPracticeRepository } from './practices.ts';
import { createResourceRepository } from './resources.ts';
import { createSyncStateRepository } from './sync-state.ts';
import { createWebhookRepository } from './webhooks.ts';

export type { SqliteOptions };

/** Opens (creating if needed) the SQLite store at `options.path` and applies new migrations. */
export async function openSqliteStore(options: SqliteOptions): Promise<Store> {
  const db = openDatabase(options);
  let lock: FileLock | undefined;
  try {
    lock = isFile(options.path) ? openFileLock(lockPathOf(options.path)) : undefined;
    return {
      keys: createKeyRepository(db, lock),
      connections: createConnectionRepository(db),
      authSessions: createAuthSessionRepository(db),
      apiKeys: createApiKeyRepository(db),
      events: createEventRepository(db),
      practices: createPracticeRepository(db),
      jobs: createJobRepository(db),
      webhooks: createWebhookRepository(db),
      resources: createResourceRepository(db),
      sync: createSyncStateRepository(db),
      async close() {
        lock?.close();
        if (db.open) db.close();
      },
    };
  } catch (error) {
    lock?.close();
    db.close();
    throw error;
  }
}

/** A file other processes may open too (not `:memory:` nor a `file:` URI). */
function isFile(path: string): boolean {
  return path !== ':memory:' && !path.startsWith('file:');
}
