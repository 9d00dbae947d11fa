// The window counter behind the sign-in limits: fixed windows per key on the injected clock, and
// bounded memory under a flood of keys.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { createWindowCounter } from './sign-in-guard.ts';

describe('createWindowCounter', () => {
  it('allows `limit` hits per window, then says how long until the window ends', () => {
    const clock = new ManualClock(0);
    const counter = createWindowCounter({ clock, limit: 3, windowMs: 60_000 });
    expect([counter.hit('a'), counter.hit('a'), counter.hit('a')]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    clock.advance(20_000);
    expect(counter.hit('a')).toBe(40_000);
    expect(counter.hit('b')).toBeUndefined();
    clock.advance(40_000);
    expect(counter.hit('a')).toBeUndefined();
  });

  it('keeps at most maxKeys windows, and a full counter still counts the keys it keeps', () => {
    const clock = new ManualClock(0);
    const counter = createWindowCounter({ clock, limit: 1, windowMs: 60_000, maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'd']) expect(counter.hit(key)).toBeUndefined();
    // `a` was the oldest and made room for `d`; `d` is remembered.
    expect(counter.hit('d')).toBe(60_000);
    expect(counter.hit('a')).toBeUndefined();
  });
});
