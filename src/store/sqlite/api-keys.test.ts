// Keys made before roles could call every route and see every connection: the migration that
// gives keys a role makes them `admin`, so that nothing that worked stops working.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiKey } from '../store.contract.ts';
import { openDatabase } from './database.ts';
import { openSqliteStore } from './index.ts';
import { DEFAULT_MIGRATIONS_DIR } from './migrate.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-key-roles-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('API key roles', () => {
  it('makes keys from before roles admin keys, and keeps the role of new ones', async () => {
    // The schema as it was before roles: every migration older than the one adding them.
    const before = join(root, 'before');
    mkdirSync(before);
    for (const file of readdirSync(DEFAULT_MIGRATIONS_DIR).filter((f) => f < '008'))
      copyFileSync(join(DEFAULT_MIGRATIONS_DIR, file), join(before, file));
    const path = join(root, 'store.db');
    const old = openDatabase({ path, migrationsDir: before });
    old
      .prepare('INSERT INTO api_keys (id, name, hash, created_at) VALUES (?, ?, ?, ?)')
      .run('key_old', 'legacy backend', 'a'.repeat(64), 1);
    old.close();

    const store = await openSqliteStore({ path });
    try {
      expect((await store.apiKeys.findByHash('a'.repeat(64)))?.role).toBe('admin');
      await store.apiKeys.insert(apiKey({ id: 'key_new', hash: 'b'.repeat(64), role: 'app' }));
      expect((await store.apiKeys.findByHash('b'.repeat(64)))?.role).toBe('app');
    } finally {
      await store.close();
    }
  });
});
