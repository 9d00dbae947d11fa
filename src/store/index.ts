// Opens the configured store adapter. Callers depend on the port (port.ts), never an adapter.
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Store } from './port.ts';
import { openPostgresStore } from './postgres/index.ts';
import { openSqliteStore } from './sqlite/index.ts';

export type * from './port.ts';

export interface SqliteStoreConfig {
  kind: 'sqlite';
  /** A file path, or `:memory:`. */
  path: string;
}

export interface PostgresStoreConfig {
  kind: 'postgres';
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** The schema the tables live in (created at open). */
  schema: string;
  /** Clients in this process's pool. */
  maxClients?: number;
}

/** One member per adapter. */
export type StoreConfig = SqliteStoreConfig | PostgresStoreConfig;

/** The store a configuration names: its SQLite file (in the data folder by default) or PostgreSQL. */
export function storeConfigOf(config: Pick<Config, 'store' | 'dataDir'>): StoreConfig {
  const { store } = config;
  return store.kind === 'postgres'
    ? { kind: 'postgres', url: store.url, schema: store.schema, maxClients: store.maxClients }
    : { kind: 'sqlite', path: store.path ?? join(config.dataDir, 'fhirbridge.db') };
}

export async function openStore(config: StoreConfig): Promise<Store> {
  switch (config.kind) {
    case 'sqlite':
      return openSqliteStore({ path: config.path });
    case 'postgres':
      return openPostgresStore(config);
  }
}
