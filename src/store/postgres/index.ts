// The PostgreSQL adapter of the store port: the scale-out store, shared by every process of a
// deployment. One pool per store; the schema is created and migrated at open.
import { type Clock, systemClock } from '../../common/clock.ts';
import type { Store } from '../port.ts';
import { createApiKeyRepository } from './api-keys.ts';
import { createAuthSessionRepository } from './auth-sessions.ts';
import { createConnectionRepository } from './connections.ts';
import { openPool } from './database.ts';
import { createEventRepository } from './events.ts';
import { createJobRepository } from './jobs.ts';
import { createKeyRepository } from './keys.ts';
import { DEFAULT_MIGRATIONS_DIR, loadMigrations, migrate } from './migrate.ts';
import { createPracticeRepository } from './practices.ts';
import { createResourceRepository } from './resources.ts';
import { createSyncStateRepository } from './sync-state.ts';
import { createWebhookRepository } from './webhooks.ts';

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** The schema fhirbridge's tables live in; created when missing. */
  schema?: string;
  /** Clients in the pool (each process holds its own pool). */
  maxClients?: number;
  /** How long opening a connection may take before the call fails (ms); 10 s by default. */
  connectTimeoutMs?: number;
  /** Where the `NNN_name.sql` files live; the store's own by default (tests point elsewhere). */
  migrationsDir?: string;
  /** Stamps `schema_migrations.applied_at`. */
  clock?: Clock;
}

export const DEFAULT_SCHEMA = 'fhirbridge';

/** Opens the PostgreSQL store, creating its schema and applying new migrations. */
export async function openPostgresStore({
  url,
  schema = DEFAULT_SCHEMA,
  maxClients,
  connectTimeoutMs,
  migrationsDir = DEFAULT_MIGRATIONS_DIR,
  clock = systemClock,
}: PostgresOptions): Promise<Store> {
  // Read the migrations before connecting, so a bad migration set touches no database.
  const migrations = loadMigrations(migrationsDir);
  const db = openPool({ url, schema, maxClients, connectTimeoutMs });
  try {
    await migrate(db, migrations, clock);
  } catch (error) {
    await db.close();
    throw error;
  }
  let closed = false;
  return {
    keys: createKeyRepository(db),
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
      if (closed) return;
      closed = true;
      await db.close();
    },
  };
}
