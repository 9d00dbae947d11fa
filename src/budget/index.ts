// Opens the configured budget adapter: Redis when the deployment has one (processes on several
// machines), else the SQLite file that every process on this machine shares. Callers depend on
// the port (port.ts), never an adapter.
import { dirname, join } from 'node:path';
import type { Clock } from '../common/clock.ts';
import { ensurePrivateDir, ensurePrivateFile } from '../config/private-files.ts';
import type { Config } from '../config/schema.ts';
import { createMemoryBudget } from './memory.ts';
import { createBudgetPolicy } from './policy.ts';
import type { Budget } from './port.ts';
import { createRedisBudget } from './redis.ts';
import { createSqliteBudget } from './sqlite.ts';

export type * from './port.ts';

/** Where the embedded budget lives: the SQLite store's file, or one beside the data otherwise. */
export function budgetPathOf(config: Pick<Config, 'store' | 'dataDir'>): string {
  return config.store.kind === 'sqlite'
    ? (config.store.path ?? join(config.dataDir, 'fhirbridge.db'))
    : join(config.dataDir, 'budget.db');
}

export interface OpenBudgetOptions {
  config: Pick<Config, 'store' | 'dataDir' | 'budget' | 'redis'>;
  clock: Clock;
}

export async function openBudget({ config, clock }: OpenBudgetOptions): Promise<Budget> {
  const policy = createBudgetPolicy(config.budget);
  if (config.redis) return createRedisBudget({ url: config.redis.url, clock, policy });
  const path = budgetPathOf(config);
  // A private in-memory store has no file to share: nothing else can reach its budget either.
  if (path === ':memory:' || path.startsWith('file:')) return createMemoryBudget({ clock, policy });
  ensurePrivateDir(dirname(path));
  ensurePrivateFile(path);
  return createSqliteBudget({ path, clock, policy });
}
