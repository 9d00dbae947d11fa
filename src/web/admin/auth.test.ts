import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSealer } from '../../common/seal.ts';
import {
  createSessionSigner,
  DECOY_HASH,
  hashAdminPassword,
  SESSION_KEY_PURPOSE,
  verifyAdminPassword,
} from './auth.ts';

describe('admin passwords', () => {
  it('verify against their scrypt hash only', async () => {
    const hash = await hashAdminPassword('correct horse');
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(hash).not.toContain('correct');
    expect(await verifyAdminPassword(hash, 'correct horse')).toBe(true);
    expect(await verifyAdminPassword(hash, 'correct horsf')).toBe(false);
    expect(await verifyAdminPassword(DECOY_HASH, '')).toBe(false);
    expect(await verifyAdminPassword('plain-text', 'plain-text')).toBe(false);
  });
});

describe('admin sessions', () => {
  const masterKey = { id: 'k1', key: randomBytes(32) };
  const sessionKey = () => createSealer([masterKey]).deriveKey(SESSION_KEY_PURPOSE);
  const signer = createSessionSigner(sessionKey());
  it('read back until they expire', () => {
    const { cookie, session } = signer.issue('ops', 10_000);
    expect(signer.read(cookie, 9_999)).toEqual(session);
    expect(signer.read(cookie, 10_000)).toBeUndefined();
  });

  it('refuse a forged or altered cookie, and one signed by another key', () => {
    const { cookie } = signer.issue('ops', 10_000);
    const [body, mac] = cookie.split('.') as [string, string];
    const forged = Buffer.from(
      JSON.stringify({ u: 'root', e: 10_000, n: 'A'.repeat(22) }),
    ).toString('base64url');
    expect(signer.read(`${forged}.${mac}`, 0)).toBeUndefined();
    expect(signer.read(`${body}.${mac.slice(1)}x`, 0)).toBeUndefined();
    expect(signer.read(`${body}.${mac}.x`, 0)).toBeUndefined();
    expect(createSessionSigner(randomBytes(32)).read(cookie, 0)).toBeUndefined();
    const otherMaster = createSealer([{ id: 'k1', key: randomBytes(32) }]);
    expect(
      createSessionSigner(otherMaster.deriveKey(SESSION_KEY_PURPOSE)).read(cookie, 0),
    ).toBeUndefined();
    // Another purpose of the same master key is another key.
    const sameMaster = createSealer([masterKey]);
    expect(createSessionSigner(sameMaster.deriveKey('other')).read(cookie, 0)).toBeUndefined();
  });

  it('are read by every process that shares the master key (a second API process, a restart)', () => {
    const { cookie, session } = signer.issue('ops', 10_000);
    const restarted = createSessionSigner(sessionKey());
    expect(restarted.read(cookie, 0)).toEqual(session);
    expect(restarted.checkCsrf(session, signer.csrfToken(session))).toBe(true);
  });

  it('bind the CSRF token to the session', () => {
    const a = signer.issue('ops', 10_000).session;
    const b = signer.issue('ops', 10_000).session;
    expect(signer.checkCsrf(a, signer.csrfToken(a))).toBe(true);
    expect(signer.checkCsrf(a, signer.csrfToken(b))).toBe(false);
    expect(signer.checkCsrf(a, undefined)).toBe(false);
  });
});
