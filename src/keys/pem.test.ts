import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeError } from '../common/errors.ts';
import { readPrivateKeyFile } from './pem.ts';

let dir: string;
let rsa: KeyObject;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fhirbridge-pem-'));
  rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function writeKey(name: string, content: string, mode = 0o600): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content, { mode });
  await chmod(path, mode); // the umask could have narrowed the mode
  return path;
}

async function refusal(path: string): Promise<BridgeError> {
  const error = await readPrivateKeyFile(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BridgeError);
  const bridgeError = error as BridgeError;
  expect(bridgeError.code).toBe('invalid_request');
  expect(bridgeError.message).not.toMatch(/BEGIN|PRIVATE KEY|MII/);
  return bridgeError;
}

describe('readPrivateKeyFile', () => {
  it('reads a PKCS#8 PEM with mode 0600', async () => {
    const pem = rsa.export({ type: 'pkcs8', format: 'pem' }).toString();
    const key = await readPrivateKeyFile(await writeKey('pkcs8.pem', pem));
    expect(key.equals(rsa)).toBe(true);
  });

  it('reads a PKCS#1 PEM (BEGIN RSA PRIVATE KEY)', async () => {
    const pem = rsa.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(pem).toContain('BEGIN RSA PRIVATE KEY');
    const key = await readPrivateKeyFile(await writeKey('pkcs1.pem', pem, 0o400));
    expect(key.equals(rsa)).toBe(true);
  });

  it.each([0o644, 0o640, 0o604])('refuses a file with mode %o', async (mode) => {
    const pem = rsa.export({ type: 'pkcs8', format: 'pem' }).toString();
    const error = await refusal(await writeKey(`open-${mode.toString(8)}.pem`, pem, mode));
    expect(error.message).toMatch(/readable by group or others.*chmod 600/);
  });

  it('refuses an RSA key under 2048 bits', async () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    const path = await writeKey(
      'small.pem',
      small.export({ type: 'pkcs8', format: 'pem' }).toString(),
    );
    expect((await refusal(path)).message).toMatch(/1024-bit.*at least 2048/);
  });

  it('refuses an EC key', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const path = await writeKey('ec.pem', ec.export({ type: 'pkcs8', format: 'pem' }).toString());
    expect((await refusal(path)).message).toMatch(/ec key; RS384 needs an RSA key/);
  });

  it('refuses an RSA-PSS-only key', async () => {
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey;
    const path = await writeKey('pss.pem', pss.export({ type: 'pkcs8', format: 'pem' }).toString());
    expect((await refusal(path)).message).toMatch(/rsa-pss key/);
  });

  it('refuses an encrypted PEM, a public key and garbage without quoting them', async () => {
    const encrypted = rsa
      .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
      .toString();
    const publicPem = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    for (const [name, content] of [
      ['encrypted.pem', encrypted],
      ['public.pem', publicPem],
      ['garbage.pem', 'not a key MIIsecret'],
    ] as const) {
      const error = await refusal(await writeKey(name, content));
      expect(error.message).toMatch(/not an unencrypted PKCS#8 or PKCS#1 private key PEM/);
      expect(error.message).not.toContain('MIIsecret');
    }
  });

  it('refuses a missing file and a directory', async () => {
    expect((await refusal(join(dir, 'missing.pem'))).message).toMatch(/cannot open key file/);
    const sub = join(dir, 'sub');
    await mkdir(sub, { mode: 0o700 });
    expect((await refusal(sub)).message).toMatch(/is not a file/);
  });
});
