import { describe, expect, it } from 'vitest';
import { createSimClock } from './clock.ts';

describe('simulator clock', () => {
  it('follows its base and adds the shifted offset', () => {
    let base = 1_000;
    const clock = createSimClock(() => base);
    expect(clock.now()).toBe(1_000);
    clock.shift(500);
    base = 2_000;
    expect(clock.now()).toBe(2_500);
    clock.shift(-2_500);
    expect(clock.now()).toBe(0);
  });

  it('runs on real time by default', () => {
    const clock = createSimClock();
    expect(Math.abs(clock.now() - Date.now())).toBeLessThan(1_000);
  });
});
