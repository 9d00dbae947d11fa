import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSealer } from '../common/seal.ts';
import { createRecordLinks, RECORD_LINK_PURPOSE } from './record-link.ts';

const master = { id: 'k1', key: randomBytes(32) };
const linksOf = (m = master) => createRecordLinks(createSealer([m]).deriveKey(RECORD_LINK_PURPOSE));
const CONNECTION = 'con_AAAAAAAAAAAAAAAAAAAAAA';

describe('record links', () => {
  it('open their one connection until they expire, in any process with the master key', () => {
    const token = linksOf().sign(CONNECTION, 120_000);
    expect(linksOf().check(token, 119_999)).toEqual({
      ok: true,
      connectionId: CONNECTION,
      expiresAt: 120_000,
    });
    expect(linksOf().check(token, 120_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuse a changed connection, expiry or signature, and another master key', () => {
    const links = linksOf();
    const token = links.sign(CONNECTION, 120_000);
    const [v, , seconds, mac] = token.split('.') as [string, string, string, string];
    const other = 'con_BBBBBBBBBBBBBBBBBBBBBB';
    expect(links.check(`${v}.${other}.${seconds}.${mac}`, 0)).toEqual({
      ok: false,
      reason: 'invalid',
    });
    // A later expiry is not an expired link: it is a forged one, even once both have passed.
    expect(links.check(`${v}.${CONNECTION}.999999999.${mac}`, 0).ok).toBe(false);
    expect(
      links.check(
        `${v}.${CONNECTION}.${seconds}.${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`,
        0,
      ),
    ).toEqual({
      ok: false,
      reason: 'invalid',
    });
    // The last of 43 letters carries two unused bits: the three other spellings that decode to
    // the same bytes must not open either.
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = ALPHABET.indexOf(mac.slice(-1));
    for (let spelling = last & ~3; spelling < (last & ~3) + 4; spelling += 1) {
      if (spelling === last) continue;
      const respelt = `${v}.${CONNECTION}.${seconds}.${mac.slice(0, -1)}${ALPHABET[spelling]}`;
      expect(links.check(respelt, 0)).toEqual({ ok: false, reason: 'invalid' });
    }
    expect(links.check('nonsense', 0)).toEqual({ ok: false, reason: 'invalid' });
    expect(linksOf({ id: 'k1', key: randomBytes(32) }).check(token, 0)).toEqual({
      ok: false,
      reason: 'invalid',
    });
    expect(
      links.check(`${v}.${CONNECTION}.0.${links.sign(CONNECTION, 0).split('.')[3]}`, 1),
    ).toEqual({
      ok: false,
      reason: 'expired',
    });
  });
});
