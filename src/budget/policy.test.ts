// The reserve kept for live reads, in exact counts: the live reads expected until the window's
// unkept end plus one standard deviation, down to 0 before the guard begins, so background work
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
  it('keeps e + sqrt(e) calls for the e live reads expected until the unkept end, at most the reserve', () => {
    // The unkept end here: the guard's 1.5 s and a patience (0.1 s) before it.
    // e = 6 * 4.4 / 6 = 4.4: 4.4 + 2.10 rounds up to 7, capped at the reserve.
    expect(headroomWithLeft(COMPRESSED, 6_000)).toBe(6);
    // e = 2.9: 2.9 + 1.70 = 4.60.
    expect(headroomWithLeft(COMPRESSED, 4_500)).toBe(5);
    // e = 1.4: 1.4 + 1.18 = 2.58 (two standard deviations would keep 4).
    expect(headroomWithLeft(COMPRESSED, 3_000)).toBe(3);
    // e = 0.4: 0.4 + 0.63 = 1.03.
    expect(headroomWithLeft(COMPRESSED, 2_000)).toBe(2);
    expect(headroomWithLeft(COMPRESSED, 1_601)).toBe(1);
  });

  it('keeps nothing from just before the guard on, where a call counts in the next window too', () => {
    expect(headroomWithLeft(COMPRESSED, 1_600)).toBe(0);
    expect(headroomWithLeft(COMPRESSED, 1_500)).toBe(0);
    expect(headroomWithLeft(COMPRESSED, 1)).toBe(0);
    // healow's minute: nothing kept from the millisecond before its last second (the guard).
    expect(headroomWithLeft(MINUTE, 1_001)).toBe(0);
    expect(headroomWithLeft(MINUTE, 1_002)).toBe(1);
  });
});

describe('backgroundFitsAt', () => {
  it('names the first instant the shrinking reserve lets a background call in', () => {
    expect(backgroundFitsAt(COMPRESSED, 0, 17, 1, 0)).toBe(0);
    // Room 2 beside the call: e + sqrt(e) <= 2 from e = 1, 1 s of reads before the unkept end.
    expect(backgroundFitsAt(COMPRESSED, 0, 21, 1, 0)).toBe(3_400);
    expect(headroomWithLeft(COMPRESSED, 2_601)).toBe(3);
    // The window's last call: a patience before the guard, not in it nor in the next window.
    expect(backgroundFitsAt(COMPRESSED, 0, 23, 1, 0)).toBe(4_400);
    expect(backgroundFitsAt(COMPRESSED, 0, 24, 1, 0)).toBeNull();
  });
});
