// The key service on the real SQLite store: the lifecycle survives closing and reopening the file.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { createSealer } from '../common/seal.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { createKeyService } from './service.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fhirbridge-keys-sqlite-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('key service on SQLite', () => {
  it('keeps keys, rotation and sealing across a reopened store', async () => {
    const path = join(dir, 'store.db');
    const clock = new ManualClock();
    const sealer = createSealer([{ id: 'm1', key: randomBytes(32) }]);
    const opts = { publishDelayMs: 1_000, retireGraceMs: 5_000 };

    const first = await openSqliteStore({ path, clock });
    const one = createKeyService({ repo: first.keys, sealer, clock, ...opts });
    const a = await one.ensure('sandbox');
    clock.advance(1); // keys list in creation order; equal times would order by kid
    const b = await one.rotate('sandbox');
    const jwt = await (await one.signer('sandbox')).signJwt({ iss: 'c', sub: 'c' });
    for (const row of await first.keys.list('sandbox')) {
      expect(JSON.stringify(row)).not.toContain('PRIVATE KEY');
    }
    await first.close();

    const second = await openSqliteStore({ path, clock });
    try {
      const two = createKeyService({ repo: second.keys, sealer, clock, ...opts });
      expect(await two.ensure('sandbox')).toEqual(a);
      const jwks = await two.jwks('sandbox');
      expect(jwks.keys.map((k) => k.kid)).toEqual([a.kid, b.kid]);
      await expect(jwtVerify(jwt, createLocalJWKSet(jwks))).resolves.toBeTruthy();

      clock.advance(1_000);
      expect((await two.signer('sandbox')).kid).toBe(b.kid);
      expect((await second.keys.list('sandbox')).map((k) => [k.kid, k.status])).toEqual([
        [a.kid, 'retired'],
        [b.kid, 'active'],
      ]);

      clock.advance(5_000);
      expect((await two.jwks('sandbox')).keys.map((k) => k.kid)).toEqual([b.kid]);
      expect((await second.keys.list('sandbox')).map((k) => k.kid)).toEqual([b.kid]);
    } finally {
      await second.close();
    }
  });
});
