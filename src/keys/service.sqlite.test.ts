// The key service on the real SQLite store: the lifecycle survives closing and reopening the file,
// and two processes on one file starting a keyring or rotating it at once make one key, not two.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { createSealer } from '../common/seal.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { createKeyService } from './service.ts';

const RUN_TS = fileURLToPath(new URL('../../bin/run-ts.mjs', import.meta.url));
const CHILD = fileURLToPath(new URL('./key-child.test-helper.ts', import.meta.url));

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

interface ChildOutcome {
  kid?: string;
  status?: string;
  error?: string;
}

/**
 * Starts one key process per action on the store at `path`, waits until every one is ready, sends
 * `go` to all of them at once and returns what each printed.
 */
async function raceProcesses(
  path: string,
  masterKey: Buffer,
  actions: ReadonlyArray<'ensure' | 'rotate'>,
): Promise<ChildOutcome[]> {
  const children = actions.map((action) => {
    const child = spawn(process.execPath, [RUN_TS, CHILD, path, action], {
      env: { ...process.env, FHIRBRIDGE_TEST_MASTER_KEY: masterKey.toString('hex') },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: child.stdout });
    const next = lines[Symbol.asyncIterator]();
    const line = async () => String((await next.next()).value);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    return { child, line, exited };
  });
  for (const c of children) expect(await c.line()).toBe('ready');
  for (const c of children) c.child.stdin.write('go\n');
  const outcomes = await Promise.all(
    children.map(async (c) => JSON.parse(await c.line()) as ChildOutcome),
  );
  for (const c of children) c.child.stdin.end();
  await Promise.all(children.map((c) => c.exited));
  return outcomes;
}

describe('key service on SQLite across processes', () => {
  it('two processes starting one keyring at once make exactly one active key, and two rotating it at once exactly one next key', async () => {
    const path = join(dir, 'processes.db');
    const masterKey = randomBytes(32);
    const store = await openSqliteStore({ path });
    const rows = async () =>
      (await store.keys.list('sandbox')).map((k) => ({ kid: k.kid, status: k.status }));
    try {
      const started = await raceProcesses(path, masterKey, ['ensure', 'ensure']);
      const [active] = await rows();
      expect(await rows()).toEqual([{ kid: active?.kid, status: 'active' }]);
      expect(started).toEqual([
        { kid: active?.kid, status: 'active' },
        { kid: active?.kid, status: 'active' },
      ]);

      const rotated = await raceProcesses(path, masterKey, ['rotate', 'rotate']);
      const added = rotated.filter((o) => o.status === 'next');
      expect(added, JSON.stringify(rotated)).toHaveLength(1);
      expect(rotated.filter((o) => o.error?.includes('already has a next key'))).toHaveLength(1);
      expect((await rows()).sort((a, b) => a.status.localeCompare(b.status))).toEqual([
        { kid: active?.kid, status: 'active' },
        { kid: added[0]?.kid, status: 'next' },
      ]);
    } finally {
      await store.close();
    }
  }, 60_000);
});
