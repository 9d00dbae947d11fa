import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { createSealer, type Sealer } from '../common/seal.ts';
import type { KeyRepository } from '../store/port.ts';
import type { Jwks } from './jwks.ts';
import { createMemoryKeyRepository } from './memory-repo.test-helper.ts';
import { createKeyService, type KeyService, type KeyServiceDeps } from './service.ts';

const MINUTE = 60_000;
const DELAY = 10 * MINUTE;
const GRACE = 24 * 60 * MINUTE;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fhirbridge-keys-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function newSealer(): Sealer {
  return createSealer([{ id: 'm1', key: randomBytes(32) }]);
}

function setup(deps: Partial<KeyServiceDeps> = {}) {
  const repo = createMemoryKeyRepository();
  const clock = new ManualClock();
  const sealer = newSealer();
  const keys = createKeyService({ repo, sealer, clock, ...deps });
  return { repo, clock, sealer, keys };
}

/** Signs a client_assertion-shaped JWT and verifies it against the JWKS as healow would. */
async function signAndVerify(keys: KeyService, keyring: string, jwks?: Jwks) {
  const signer = await keys.signer(keyring);
  const jwt = await signer.signJwt({
    iss: 'client-1',
    sub: 'client-1',
    aud: 'https://oauthserver.eclinicalworks.com/oauth/oauth2/token',
    jti: 'jti-1',
    exp: 2_000_000_000,
  });
  const verified = await jwtVerify(jwt, createLocalJWKSet(jwks ?? (await keys.jwks(keyring))), {
    algorithms: ['RS384'],
    currentDate: new Date(1_900_000_000_000),
  });
  return { signer, jwt, verified };
}

async function writeKeyFile(name: string, pem: string, mode: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, pem, { mode });
  await chmod(path, mode);
  return path;
}

const rsaPem = (bits = 2048) =>
  generateKeyPairSync('rsa', { modulusLength: bits })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();

async function rejection(promise: Promise<unknown>): Promise<BridgeError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BridgeError);
  return error as BridgeError;
}

describe('generate and ensure', () => {
  it('ensure creates one active key on first start and reuses it after', async () => {
    const { keys, clock } = setup();
    const first = await keys.ensure('sandbox');
    expect(first).toEqual({
      kid: first.kid,
      status: 'active',
      createdAt: clock.now(),
      activatesAt: clock.now(),
      removeAt: null,
    });
    expect(await keys.ensure('sandbox')).toEqual(first);
    expect(await keys.list('sandbox')).toEqual([first]);
  });

  it('concurrent ensure calls make a single key', async () => {
    const { keys, repo } = setup();
    const [a, b] = await Promise.all([keys.ensure('sandbox'), keys.ensure('sandbox')]);
    expect(a.kid).toBe(b.kid);
    expect(repo.rows()).toHaveLength(1);
  });

  it('generate makes an active key in an empty keyring, then a next key', async () => {
    const { keys, clock } = setup();
    const first = await keys.generate('sandbox');
    expect(first.status).toBe('active');
    const second = await keys.generate('sandbox');
    expect(second).toMatchObject({ status: 'next', activatesAt: clock.now() + DELAY });
  });

  it('keeps keyrings apart', async () => {
    const { keys } = setup();
    await keys.ensure('sandbox');
    await keys.ensure('production');
    await keys.rotate('sandbox');
    expect(await keys.list('sandbox')).toHaveLength(2);
    expect(await keys.list('production')).toHaveLength(1);
    const sandboxKids = (await keys.jwks('sandbox')).keys.map((k) => k.kid);
    const productionKids = (await keys.jwks('production')).keys.map((k) => k.kid);
    expect(sandboxKids.some((kid) => productionKids.includes(kid))).toBe(false);
  });

  it('honours modulusLength and refuses one under 2048', async () => {
    const { keys } = setup({ modulusLength: 3072 });
    await keys.ensure('sandbox');
    const [jwk] = (await keys.jwks('sandbox')).keys;
    expect(Buffer.from(jwk?.n ?? '', 'base64url')).toHaveLength(384);
    expect(() => setup({ modulusLength: 1024 })).toThrow(/at least 2048/);
  });

  it('refuses a malformed keyring name', async () => {
    const { keys } = setup();
    expect((await rejection(keys.ensure('../x'))).code).toBe('invalid_request');
  });
});

describe('jwks', () => {
  it('publishes kty, n, e, kid, alg RS384 and use sig only, kid = RFC 7638 thumbprint', async () => {
    const { keys } = setup();
    const { kid } = await keys.ensure('sandbox');
    const jwks = await keys.jwks('sandbox');
    expect(Object.keys(jwks)).toEqual(['keys']);
    expect(jwks.keys).toHaveLength(1);
    const [jwk] = jwks.keys;
    expect(Object.keys(jwk ?? {}).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(jwk).toMatchObject({ kty: 'RSA', e: 'AQAB', kid, alg: 'RS384', use: 'sig' });
    for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
    expect(await calculateJwkThumbprint({ kty: 'RSA', n: jwk?.n, e: jwk?.e }, 'sha256')).toBe(kid);
  });

  it('never copies a private member that reached a stored row', async () => {
    const { keys, repo } = setup();
    await keys.ensure('sandbox');
    const [row] = repo.rows();
    if (!row) throw new Error('no row');
    await repo.put({ ...row, publicJwk: { ...row.publicJwk, d: 'leak', p: 'leak', qi: 'leak' } });
    const jwks = await keys.jwks('sandbox');
    expect(JSON.stringify(jwks)).not.toContain('leak');
  });

  it('is empty for an unknown keyring', async () => {
    const { keys } = setup();
    expect(await keys.jwks('nothing')).toEqual({ keys: [] });
  });
});

describe('signer', () => {
  it('signs RS384 with typ JWT and kid, verifiable with the JWKS, claims untouched', async () => {
    const { keys } = setup();
    const { kid } = await keys.ensure('sandbox');
    const { signer, jwt, verified } = await signAndVerify(keys, 'sandbox');
    expect(signer.kid).toBe(kid);
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'RS384', typ: 'JWT', kid });
    expect(verified.payload).toEqual({
      iss: 'client-1',
      sub: 'client-1',
      aud: 'https://oauthserver.eclinicalworks.com/oauth/oauth2/token',
      jti: 'jti-1',
      exp: 2_000_000_000,
    });
  });

  it('refuses to sign from an empty keyring', async () => {
    const { keys } = setup();
    const error = await rejection(keys.signer('sandbox'));
    expect(error.code).toBe('key_error');
    expect(error.message).toMatch(/no active key/);
  });
});

describe('rotation timeline', () => {
  it('publishes next at once, signs with it after the delay, drops the old key after grace', async () => {
    const { keys, clock, repo } = setup();
    const t0 = clock.now();
    const a = await keys.ensure('sandbox');

    const b = await keys.rotate('sandbox');
    expect(b).toMatchObject({ status: 'next', activatesAt: t0 + DELAY, removeAt: null });
    expect((await keys.jwks('sandbox')).keys.map((k) => k.kid)).toEqual([a.kid, b.kid]);

    // Just before the delay: B is published, A still signs.
    clock.advance(DELAY - 1);
    const before = await signAndVerify(keys, 'sandbox');
    expect(before.signer.kid).toBe(a.kid);

    // At the delay: B signs, A is retired but still published.
    clock.advance(1);
    expect((await signAndVerify(keys, 'sandbox')).signer.kid).toBe(b.kid);
    expect(await keys.list('sandbox')).toEqual([
      { ...b, status: 'active' },
      { ...a, status: 'retired', removeAt: t0 + DELAY + GRACE },
    ]);
    // The transition is persisted, not only computed.
    expect(repo.rows().map((r) => [r.kid, r.status, r.removeAt])).toEqual(
      expect.arrayContaining([
        [a.kid, 'retired', t0 + DELAY + GRACE],
        [b.kid, 'active', null],
      ]),
    );

    // During grace: an assertion A signed before the switch still verifies.
    clock.advance(GRACE - 1);
    const inGrace = await keys.jwks('sandbox');
    expect(inGrace.keys.map((k) => k.kid)).toEqual([b.kid, a.kid]);
    await expect(
      jwtVerify(before.jwt, createLocalJWKSet(inGrace), {
        currentDate: new Date(1_900_000_000_000),
      }),
    ).resolves.toBeTruthy();

    // After grace: A is gone from the JWKS, the list and the store.
    clock.advance(1);
    expect((await keys.jwks('sandbox')).keys.map((k) => k.kid)).toEqual([b.kid]);
    expect((await keys.list('sandbox')).map((k) => k.kid)).toEqual([b.kid]);
    expect(repo.rows().map((r) => r.kid)).toEqual([b.kid]);
    await expect(
      jwtVerify(before.jwt, createLocalJWKSet(await keys.jwks('sandbox'))),
    ).rejects.toThrow();
  });

  it('honours configured delays', async () => {
    const { keys, clock } = setup({ publishDelayMs: 5_000, retireGraceMs: 7_000 });
    const a = await keys.ensure('sandbox');
    const b = await keys.rotate('sandbox');
    expect(b.activatesAt).toBe(clock.now() + 5_000);
    clock.advance(5_000);
    expect((await keys.signer('sandbox')).kid).toBe(b.kid);
    clock.advance(6_999);
    expect((await keys.jwks('sandbox')).keys.map((k) => k.kid)).toContain(a.kid);
    clock.advance(1);
    expect((await keys.jwks('sandbox')).keys.map((k) => k.kid)).toEqual([b.kid]);
  });

  it('refuses a second rotation while one is pending, allows it after activation', async () => {
    const { keys, clock } = setup();
    await keys.ensure('sandbox');
    const b = await keys.rotate('sandbox');
    const error = await rejection(keys.rotate('sandbox'));
    expect(error.code).toBe('invalid_request');
    expect(error.message).toContain(b.kid);
    clock.advance(DELAY);
    expect((await keys.rotate('sandbox')).status).toBe('next');
    expect((await keys.list('sandbox')).map((k) => k.status)).toEqual([
      'active',
      'next',
      'retired',
    ]);
  });
});

describe('importPem', () => {
  it('imports a 0600 key: active in an empty keyring, next otherwise, kid = thumbprint', async () => {
    const { keys, clock } = setup();
    const pemA = rsaPem();
    const a = await keys.importPem('sandbox', await writeKeyFile('a.pem', pemA, 0o600));
    expect(a.status).toBe('active');
    const jwk = createPrivateKey(pemA).export({ format: 'jwk' });
    expect(a.kid).toBe(await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n, e: jwk.e }, 'sha256'));
    expect((await signAndVerify(keys, 'sandbox')).signer.kid).toBe(a.kid);

    const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();
    const b = await keys.importPem('sandbox', await writeKeyFile('b.pem', pkcs1, 0o600));
    expect(b).toMatchObject({ status: 'next', activatesAt: clock.now() + DELAY });
    clock.advance(DELAY);
    expect((await signAndVerify(keys, 'sandbox')).signer.kid).toBe(b.kid);
  });

  it('refuses a 0644 file, a 1024-bit key, an EC key and a key already in the keyring', async () => {
    const { keys, repo } = setup();
    const pem = rsaPem();
    const open = await rejection(
      keys.importPem('sandbox', await writeKeyFile('o.pem', pem, 0o644)),
    );
    expect(open).toMatchObject({ code: 'invalid_request' });
    expect(open.message).toMatch(/readable by group or others/);

    const small = await writeKeyFile('s.pem', rsaPem(1024), 0o600);
    expect((await rejection(keys.importPem('sandbox', small))).message).toMatch(/1024-bit/);

    const ecPem = generateKeyPairSync('ec', { namedCurve: 'P-384' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const ec = await writeKeyFile('ec.pem', ecPem, 0o600);
    expect((await rejection(keys.importPem('sandbox', ec))).message).toMatch(/needs an RSA key/);
    expect(repo.rows()).toEqual([]);

    const ok = await writeKeyFile('ok.pem', pem, 0o600);
    await keys.importPem('sandbox', ok);
    expect((await rejection(keys.importPem('sandbox', ok))).message).toMatch(/already in keyring/);
  });
});

describe('storage', () => {
  it('stores private keys only sealed, bound to their kid', async () => {
    const { keys, repo, sealer } = setup();
    const pem = rsaPem();
    await keys.importPem('sandbox', await writeKeyFile('sealed.pem', pem, 0o600));
    await keys.rotate('sandbox');
    const rows = repo.rows();
    expect(rows).toHaveLength(2);
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain('PRIVATE KEY');
    // No line of the imported key's base64 body appears anywhere.
    for (const line of pem.split('\n').filter((l) => l.length > 40)) {
      expect(dump).not.toContain(line);
    }
    for (const row of rows) {
      expect(row.sealedPrivateKey).toMatch(/^v1\.m1\./);
      for (const member of PRIVATE_MEMBERS) expect(row.publicJwk).not.toHaveProperty(member);
      const opened = sealer.open(row.sealedPrivateKey, `key:${row.kid}`);
      expect(opened).toContain('BEGIN PRIVATE KEY');
      const other = rows.find((r) => r.kid !== row.kid)?.kid ?? '';
      expect(() => sealer.open(row.sealedPrivateKey, `key:${other}`)).toThrow(BridgeError);
    }
  });
});

describe('persistence', () => {
  async function survivesNewInstance(repo: KeyRepository) {
    const clock = new ManualClock();
    const sealer = newSealer();
    const one = createKeyService({ repo, sealer, clock });
    const a = await one.ensure('sandbox');
    const b = await one.rotate('sandbox');

    // A second instance (a restart, or another process) on the same store and master key.
    const two = createKeyService({ repo, sealer, clock });
    expect(await two.list('sandbox')).toEqual(await one.list('sandbox'));
    expect(await two.jwks('sandbox')).toEqual(await one.jwks('sandbox'));
    expect((await signAndVerify(two, 'sandbox', await one.jwks('sandbox'))).signer.kid).toBe(a.kid);

    // The second instance notices the activation; the first sees it persisted.
    clock.advance(DELAY);
    expect((await two.signer('sandbox')).kid).toBe(b.kid);
    const rows = await repo.list('sandbox');
    expect(rows.find((r) => r.kid === a.kid)?.status).toBe('retired');
    expect((await signAndVerify(one, 'sandbox')).signer.kid).toBe(b.kid);

    // Another master key cannot open the keys, and the error shows no key material.
    const stranger = createKeyService({ repo, sealer: newSealer(), clock });
    const error = await rejection(stranger.signer('sandbox'));
    expect(error.code).toBe('key_error');
    expect(error.message).toBe(`cannot open the private key ${b.kid}`);
  }

  it('survives a new service instance on the same repository', async () => {
    await survivesNewInstance(createMemoryKeyRepository());
  });
});
