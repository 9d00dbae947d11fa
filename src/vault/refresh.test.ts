import { describe, expect, it } from 'vitest';
import { refreshLeeway } from './refresh.ts';

const MINUTE = 60_000;

describe('refreshLeeway', () => {
  it('is the configured leeway for a token that lives much longer (healow: one hour)', () => {
    expect(refreshLeeway(5 * MINUTE, { accessIssuedAt: 0, accessExpiresAt: 60 * MINUTE })).toBe(
      5 * MINUTE,
    );
  });

  it('is half the lifetime of a short token (60 s → 30 s)', () => {
    expect(refreshLeeway(5 * MINUTE, { accessIssuedAt: 1_000, accessExpiresAt: 61_000 })).toBe(
      30_000,
    );
  });

  it('is the configured leeway when the issue time is unknown (tokens stored before it was kept)', () => {
    expect(refreshLeeway(5 * MINUTE, { accessIssuedAt: null, accessExpiresAt: 61_000 })).toBe(
      5 * MINUTE,
    );
    expect(refreshLeeway(5 * MINUTE, { accessExpiresAt: 61_000 })).toBe(5 * MINUTE);
  });

  it('is never negative (a token issued already expired)', () => {
    expect(refreshLeeway(5 * MINUTE, { accessIssuedAt: 10_000, accessExpiresAt: 5_000 })).toBe(0);
  });
});
