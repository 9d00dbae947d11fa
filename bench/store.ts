// Store benchmark: what one write costs on each store adapter, on the same inputs. A token write
// (the refresh's compare-and-set on tokenVersion) and a page save (50 resources, their
// checkpoint and the run's progress in one transaction), one after the other from one process.
// Baseline: the SQLite file (the embedded default); PostgreSQL is the shared server of
// scale-out, at 127.0.0.1:5432 (`test` database, FHIRBRIDGE_TEST_POSTGRES overrides it), in a
// schema of this run's own, dropped after.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Store } from '../src/store/port.ts';
import { openPostgresStore } from '../src/store/postgres/index.ts';
import {
  dropSchema,
  freshSchema,
  TEST_POSTGRES_URL,
} from '../src/store/postgres/test-schema.test-helper.ts';
import { checkpoint, resourceWrite, syncRun } from '../src/store/resources.contract.ts';
import { openSqliteStore } from '../src/store/sqlite/index.ts';
import { connection } from '../src/store/store.contract.ts';
import { percentile, ratio, round } from './stats.ts';
import type { BenchOptions, BenchResult } from './types.ts';

const PAGE_SIZE = 50;

interface Costs {
  tokenWriteP50: number;
  tokenWriteP99: number;
  pageSaveP50: number;
  pageSaveP99: number;
}

async function measure(store: Store, writes: number): Promise<Costs> {
  // The contract's fixtures: the same rows on every backend.
  await store.connections.insert(connection({ id: 'con_r1', tokenVersion: 0 }));
  await store.sync.createRun(syncRun());
  const tokenWrites: number[] = [];
  for (let version = 0; version < writes; version++) {
    const started = performance.now();
    const written = await store.connections.update(
      'con_r1',
      { sealedTokens: `v1.mk1.iv.tokens-${version}.tag`, tokenVersion: version + 1 },
      version,
    );
    tokenWrites.push(performance.now() - started);
    if (!written) throw new Error(`token write ${version} lost its compare-and-set`);
  }
  const pageSaves: number[] = [];
  for (let page = 0; page < writes / 10; page++) {
    const resources = Array.from({ length: PAGE_SIZE }, (_, i) =>
      resourceWrite({ id: `obs-${page}-${i}`, versionId: '1' }),
    );
    const started = performance.now();
    await store.resources.savePage({
      connectionId: 'con_r1',
      practiceBase: 'https://fhir4.healow.com/fhir/r4/JAFJCD',
      fetchedAt: Date.now(),
      source: 'Observation?category=laboratory',
      sweep: 'sweep-1',
      resources,
      checkpoint: checkpoint({ connectionId: 'con_r1', pagesDone: page + 1 }),
      run: { id: 'sync_1', progress: {}, updatedAt: Date.now() },
    });
    pageSaves.push(performance.now() - started);
  }
  return {
    tokenWriteP50: round(percentile(tokenWrites, 50), 3),
    tokenWriteP99: round(percentile(tokenWrites, 99), 3),
    pageSaveP50: round(percentile(pageSaves, 50), 3),
    pageSaveP99: round(percentile(pageSaves, 99), 3),
  };
}

export async function benchStore({ preset }: BenchOptions): Promise<BenchResult[]> {
  const writes = preset === 'quick' ? 200 : 1000;
  const dir = mkdtempSync(join(tmpdir(), 'fhirbridge-bench-store-'));
  const schema = freshSchema();
  try {
    const sqlite = await openSqliteStore({ path: join(dir, 'store.db') });
    const lite = await measure(sqlite, writes).finally(() => sqlite.close());
    const postgres = await openPostgresStore({ url: TEST_POSTGRES_URL, schema, maxClients: 2 });
    const pg = await measure(postgres, writes).finally(() => postgres.close());
    return [
      {
        name: 'store-write',
        inputs:
          `${writes} token writes (compare-and-set on tokenVersion) and ${writes / 10} page saves ` +
          `(${PAGE_SIZE} new resources, checkpoint and run progress in one transaction), one ` +
          'after the other from one process; SQLite file (WAL, synchronous NORMAL) as the ' +
          'baseline, PostgreSQL on 127.0.0.1 (fsync and synchronous_commit as the server has them)',
        figures: {
          sqlite_token_write_p50_ms: lite.tokenWriteP50,
          sqlite_token_write_p99_ms: lite.tokenWriteP99,
          postgres_token_write_p50_ms: pg.tokenWriteP50,
          postgres_token_write_p99_ms: pg.tokenWriteP99,
          token_write_p50_postgres_over_sqlite: ratio(pg.tokenWriteP50, lite.tokenWriteP50),
          sqlite_page_save_p50_ms: lite.pageSaveP50,
          sqlite_page_save_p99_ms: lite.pageSaveP99,
          postgres_page_save_p50_ms: pg.pageSaveP50,
          postgres_page_save_p99_ms: pg.pageSaveP99,
          page_save_p50_postgres_over_sqlite: ratio(pg.pageSaveP50, lite.pageSaveP50),
        },
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropSchema(schema);
  }
}

// Run alone: `node bin/run-ts.mjs bench/store.ts` prints the quick figures as JSON.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await benchStore({ preset: 'quick' }), null, 2));
}
