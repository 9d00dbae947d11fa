import { describe, expect, it } from 'vitest';
import {
  CLOCK_SKEW_FAIL_MS,
  CLOCK_SKEW_WARN_MS,
  checkBudget,
  checkClock,
  checkJwksUrl,
  checkRedirectUri,
} from './checks.ts';

const budget = { limit: 240, windowMs: 60_000, limits: {}, reserveShare: 0.25 };

describe('checkRedirectUri', () => {
  it('passes an exact https URI', () => {
    expect(checkRedirectUri('https://bridge.example.com/callback', 'production').status).toBe(
      'pass',
    );
  });
  it('warns on a trailing slash, in the sandbox too', () => {
    const r = checkRedirectUri('http://localhost:8080/callback/', 'sandbox');
    expect([r.status, r.message]).toEqual([
      'warn',
      'http://localhost:8080/callback/ ends with a slash',
    ]);
  });
  it('fails http and localhost in production only', () => {
    expect(checkRedirectUri('http://bridge.example.com/callback', 'production').message).toBe(
      'http://bridge.example.com/callback is not https',
    );
    expect(checkRedirectUri('https://localhost/callback', 'production').message).toBe(
      'https://localhost/callback is localhost',
    );
    expect(checkRedirectUri('http://localhost:8080/callback', 'sandbox').status).toBe('pass');
  });
});

describe('checkJwksUrl', () => {
  it('fails a production JWKS URL healow cannot reach from outside', () => {
    expect(checkJwksUrl('http://bridge.example.com/jwks/p.json', 'production').status).toBe('fail');
    expect(checkJwksUrl('https://127.0.0.1/jwks/p.json', 'production').status).toBe('fail');
    expect(checkJwksUrl('https://bridge.example.com/jwks/p.json', 'production').status).toBe(
      'pass',
    );
  });
  it('only warns about a loopback one in the sandbox (the local simulator reaches it)', () => {
    expect(checkJwksUrl('http://localhost:8080/jwks/sandbox.json', 'sandbox').status).toBe('warn');
  });
});

describe('checkClock', () => {
  const at = Date.UTC(2026, 0, 1, 12, 0, 0);
  // The Date header says the second; the upstream's time is on average half a second later.
  const skewed = (ms: number) => checkClock({ upstream: at, local: at + 500 + ms }, 'healow');
  it('passes within the warning threshold either way', () => {
    expect(skewed(CLOCK_SKEW_WARN_MS - 1000).status).toBe('pass');
    expect(skewed(-(CLOCK_SKEW_WARN_MS - 1000)).status).toBe('pass');
  });
  it('warns from 10 s and fails from 60 s, naming the direction', () => {
    expect([skewed(CLOCK_SKEW_WARN_MS).status, skewed(CLOCK_SKEW_WARN_MS).message]).toEqual([
      'warn',
      '10 s ahead of healow',
    ]);
    expect([skewed(-CLOCK_SKEW_FAIL_MS).status, skewed(-CLOCK_SKEW_FAIL_MS).message]).toEqual([
      'fail',
      '60 s behind healow',
    ]);
  });
  it('warns when there was no Date header to compare with', () => {
    expect(checkClock(undefined, 'healow').status).toBe('warn');
  });
});

describe('checkBudget', () => {
  const sqlite = { budget, store: { kind: 'sqlite' as const }, dataDir: '/var/lib/fb' };
  it('passes one process, naming where the budget is kept', () => {
    expect(checkBudget(sqlite, 1).message).toBe(
      '240 calls per 60 s per practice, kept in /var/lib/fb/fhirbridge.db',
    );
  });
  it('warns that a SQLite budget is shared by one machine only', () => {
    expect(checkBudget(sqlite, 3).status).toBe('warn');
  });
  it('fails several processes over an in-memory store, and passes any number over Redis', () => {
    const memory = { ...sqlite, store: { kind: 'sqlite' as const, path: ':memory:' } };
    expect(checkBudget(memory, 2).status).toBe('fail');
    expect(checkBudget({ ...memory, redis: { url: 'redis://127.0.0.1:6379' } }, 8).status).toBe(
      'pass',
    );
  });
});
