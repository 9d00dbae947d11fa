import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BridgeError } from './errors.ts';
import { createSealer } from './seal.ts';

const key = (id: string) => ({ id, key: randomBytes(32) });

describe('sealer', () => {
  it('round-trips and hides the plaintext', () => {
    const sealer = createSealer([key('k1')]);
    const sealed = sealer.seal('refresh-token-value', 'tokens:con_1');
    expect(sealed).toMatch(/^v1\.k1\./);
    expect(sealed).not.toContain('refresh-token-value');
    expect(sealer.open(sealed, 'tokens:con_1')).toBe('refresh-token-value');
  });

  it('binds the context: a value copied to another row does not open', () => {
    const sealer = createSealer([key('k1')]);
    const sealed = sealer.seal('secret', 'tokens:con_1');
    expect(() => sealer.open(sealed, 'tokens:con_2')).toThrow(BridgeError);
  });

  it('opens values of an older master key after rotation and says they are stale', () => {
    const old = key('old');
    const sealedBefore = createSealer([old]).seal('secret', 'c');
    const rotated = createSealer([key('new'), old]);
    expect(rotated.open(sealedBefore, 'c')).toBe('secret');
    expect(rotated.isStale(sealedBefore)).toBe(true);
    expect(rotated.isStale(rotated.seal('secret', 'c'))).toBe(false);
  });

  it('refuses tampering, unknown keys and bad key material without echoing the value', () => {
    const sealer = createSealer([key('k1')]);
    const sealed = sealer.seal('secret', 'c');
    const parts = sealed.split('.');
    parts[3] = Buffer.from('forged').toString('base64url');
    expect(() => sealer.open(parts.join('.'), 'c')).toThrow(/failed authentication/);
    expect(() => createSealer([key('k2')]).open(sealed, 'c')).toThrow(/unknown master key "k1"/);
    expect(() => sealer.open('garbage', 'c')).toThrow(/malformed/);
    expect(() => createSealer([{ id: 'short', key: randomBytes(16) }])).toThrow(/32 bytes/);
    expect(() => createSealer([])).toThrow(/at least one/);
  });

  it('refuses a truncated authentication tag (GCM would otherwise check only its first bytes)', () => {
    const sealer = createSealer([key('k1')]);
    const parts = sealer.seal('secret', 'c').split('.');
    parts[4] = Buffer.from(parts[4] ?? '', 'base64url')
      .subarray(0, 4)
      .toString('base64url');
    expect(() => sealer.open(parts.join('.'), 'c')).toThrow(/failed authentication/);
  });
});
