// Opens the configured store adapter. Callers depend on the port (port.ts), never an adapter.
import type { Store } from './port.ts';
import { openSqliteStore } from './sqlite/index.ts';

export type * from './port.ts';

export interface SqliteStoreConfig {
  kind: 'sqlite';
  /** A file path, or `:memory:`. */
  path: string;
}

/** One member per adapter; postgres joins this union when its adapter lands. */
export type StoreConfig = SqliteStoreConfig;

export async function openStore(config: StoreConfig): Promise<Store> {
  switch (config.kind) {
    case 'sqlite':
      return openSqliteStore({ path: config.path });
  }
}
