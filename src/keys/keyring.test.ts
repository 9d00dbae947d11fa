import { describe, expect, it } from 'vitest';
import type { KeyStatus, StoredKey } from '../store/port.ts';
import { activeKey, advanceKeyring } from './keyring.ts';

const GRACE = 1_000;

function key(kid: string, status: KeyStatus, fields: Partial<StoredKey> = {}): StoredKey {
  return {
    kid,
    keyring: 'sandbox',
    status,
    publicJwk: { kty: 'RSA', n: kid, e: 'AQAB' },
    sealedPrivateKey: 'sealed',
    createdAt: 0,
    activatesAt: status === 'next' ? 100 : 0,
    removeAt: null,
    ...fields,
  };
}

describe('advanceKeyring', () => {
  it('leaves a next key waiting before its activation', () => {
    const keys = [key('a', 'active'), key('b', 'next', { activatesAt: 100 })];
    const result = advanceKeyring(keys, 99, GRACE);
    expect(result.changed).toEqual([]);
    expect(result.removed).toEqual([]);
    expect(result.keys.map((k) => [k.kid, k.status])).toEqual([
      ['a', 'active'],
      ['b', 'next'],
    ]);
  });

  it('promotes at activatesAt and starts the grace period then, not when noticed', () => {
    const keys = [key('a', 'active'), key('b', 'next', { activatesAt: 100 })];
    const result = advanceKeyring(keys, 150, GRACE);
    expect(result.keys).toEqual([
      key('a', 'retired', { removeAt: 100 + GRACE }),
      key('b', 'active', { activatesAt: 100 }),
    ]);
    expect(result.changed.map((k) => k.kid).sort()).toEqual(['a', 'b']);
    // The input rows are not mutated.
    expect(keys[0]?.status).toBe('active');
  });

  it('keeps a retired key until removeAt and removes it at removeAt', () => {
    const keys = [key('a', 'retired', { removeAt: 500 }), key('b', 'active')];
    expect(advanceKeyring(keys, 499, GRACE).removed).toEqual([]);
    const result = advanceKeyring(keys, 500, GRACE);
    expect(result.removed).toEqual(['a']);
    expect(result.keys.map((k) => k.kid)).toEqual(['b']);
  });

  it('removes at once an old key whose grace ended while nobody looked', () => {
    const keys = [key('a', 'active'), key('b', 'next', { activatesAt: 100 })];
    const result = advanceKeyring(keys, 100 + GRACE, GRACE);
    expect(result.removed).toEqual(['a']);
    expect(result.changed.map((k) => k.kid)).toEqual(['b']);
    expect(result.keys.map((k) => [k.kid, k.status])).toEqual([['b', 'active']]);
  });

  it('applies two due activations in order', () => {
    const keys = [
      key('a', 'active'),
      key('c', 'next', { activatesAt: 200 }),
      key('b', 'next', { activatesAt: 100 }),
    ];
    const byKid = Object.fromEntries(advanceKeyring(keys, 300, GRACE).keys.map((k) => [k.kid, k]));
    expect(byKid.a).toMatchObject({ status: 'retired', removeAt: 100 + GRACE });
    expect(byKid.b).toMatchObject({ status: 'retired', removeAt: 200 + GRACE });
    expect(byKid.c).toMatchObject({ status: 'active' });
  });
});

describe('activeKey', () => {
  it('picks the most recently activated active key', () => {
    const keys = [
      key('old', 'active', { activatesAt: 10 }),
      key('new', 'active', { activatesAt: 20 }),
      key('n', 'next', { activatesAt: 5 }),
    ];
    expect(activeKey(keys)?.kid).toBe('new');
    expect(activeKey([key('n', 'next')])).toBeUndefined();
  });
});
