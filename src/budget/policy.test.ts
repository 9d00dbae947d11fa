// The reserve kept for live reads, in exact counts: the live reads expected until the window's
// unkept end plus one standard deviation, down to 0 where the guard begins, so background work
// takes what live reads left before the guard (where a call would count in two windows).
import { describe, expect, it } from 'vitest';
import { backgroundFitsAt, backgroundHeadroom, type ReserveShape } from './policy.ts';

/** 24 calls in 6 s with a guard of 1.5 s, a quarter kept (the scale-out test's window). */
const COMPRESSED: ReserveShape = { limit: 24, reserve: 6, windowMs: 6_000, guardMs: 1_500 };
/** healow's minute: 240 calls, a quarter kept, a guard of 1 s as long as a read's patience. */
const MINUTE: ReserveShape = { limit: 240, reserve: 60, windowMs: 60_000, guardMs: 1_000 };

const headroomWithLeft = (shape: ReserveShape, left: number) =>
  backgroundHeadroom(shape, 0, shape.windowMs - left);

describe('backgroundHeadroom', () => {
  it('keeps e + sqrt(e) calls for the e live reads expected until the guard, at most the reserve', () => {
    // e = 6 * 4.5 / 6 = 4.5: 4.5 + 2.12 rounds up to 7, capped at the reserve.
    expect(headroomWithLeft(COMPRESSED, 6_000)).toBe(6);
    // e = 3: 3 + 1.73 = 4.73.
    expect(headroomWithLeft(COMPRESSED, 4_500)).toBe(5);
    // e = 1.5: 1.5 + 1.22 = 2.72 (two standard deviations would keep 4).
    expect(headroomWithLeft(COMPRESSED, 3_000)).toBe(3);
    // e = 0.5: 0.5 + 0.71 = 1.21.
    expect(headroomWithLeft(COMPRESSED, 2_000)).toBe(2);
    expect(headroomWithLeft(COMPRESSED, 1_501)).toBe(1);
  });

  it('keeps nothing from the guard on, where a call counts in the next window too', () => {
    expect(headroomWithLeft(COMPRESSED, 1_500)).toBe(0);
    expect(headroomWithLeft(COMPRESSED, 1)).toBe(0);
    // healow's minute: nothing kept in its last second (guard and patience alike).
    expect(headroomWithLeft(MINUTE, 1_000)).toBe(0);
    expect(headroomWithLeft(MINUTE, 1_001)).toBe(1);
  });
});

describe('backgroundFitsAt', () => {
  it('names the first instant the shrinking reserve lets a background call in', () => {
    expect(backgroundFitsAt(COMPRESSED, 0, 17, 1, 0)).toBe(0);
    // Room 2 beside the call: e + sqrt(e) <= 2 from e = 1, 1 s of reads before the guard.
    expect(backgroundFitsAt(COMPRESSED, 0, 21, 1, 0)).toBe(3_500);
    expect(headroomWithLeft(COMPRESSED, 2_501)).toBe(3);
    // The window's last call before the guard: at the guard's start, not in the next window.
    expect(backgroundFitsAt(COMPRESSED, 0, 23, 1, 0)).toBe(4_500);
    expect(backgroundFitsAt(COMPRESSED, 0, 24, 1, 0)).toBeNull();
  });
});
