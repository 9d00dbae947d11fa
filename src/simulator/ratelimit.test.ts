import { afterEach, describe, expect, it } from 'vitest';
import {
  authorizeCode,
  authorizeUrl,
  pkcePair,
  publicClientToken,
  startTestSimulator,
  type TestSimulator,
} from './simulator.test-helper.ts';

describe('rate limit per practice code', () => {
  let sim: TestSimulator;
  afterEach(() => sim.close());

  const start = async (quirks: Record<string, unknown> = {}) => {
    sim = await startTestSimulator({ rateLimit: { limit: 5, windowMs: 1000 }, quirks });
    // Start at the beginning of a window so the calls below share it.
    sim.clock.set(Math.ceil(sim.clock.now() / 1000) * 1000);
  };
  const metadata = (code = 'JAFJCD') => fetch(`${sim.base(code)}/metadata`);

  it('answers 429 with an OperationOutcome (HAPI narrative) over the limit, for the rest of the window', async () => {
    await start();
    for (let i = 0; i < 5; i += 1) expect((await metadata()).status).toBe(200);
    const over = await metadata();
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBeNull();
    expect(await over.json()).toMatchObject({
      resourceType: 'OperationOutcome',
      text: {
        status: 'generated',
        div: expect.stringContaining('<pre>Too many requests for this practice</pre>'),
      },
      issue: [{ code: 'throttled' }],
    });
    sim.clock.shift(900);
    expect((await metadata()).status).toBe(429);
    // The next window opens the door again.
    sim.clock.shift(100);
    expect((await metadata()).status).toBe(200);
    const counters = await (await sim.admin('GET', '/counters/JAFJCD')).json();
    expect(counters).toMatchObject({
      callsThisWindow: 1,
      callsTotal: 8,
      rateLimited: 2,
      peakCallsPerWindow: 7,
    });
    expect(counters.recentWindows.map((w: { calls: number }) => w.calls)).toEqual([7, 1]);
  });

  it('counts each practice separately', async () => {
    await start();
    for (let i = 0; i < 5; i += 1) await metadata('JAFJCD');
    expect((await metadata('JAFJCD')).status).toBe(429);
    expect((await metadata('BFGHDA')).status).toBe(200);
  });

  it('sends Retry-After by the quirk', async () => {
    await start({ retryAfterOn429: true });
    sim.clock.shift(300);
    for (let i = 0; i < 5; i += 1) await metadata();
    const over = await metadata();
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBe('1');
  });

  it('counts authorize against the practice named by aud', async () => {
    await start();
    for (let i = 0; i < 5; i += 1) {
      const page = await fetch(authorizeUrl(sim, pkcePair().challenge, { practice: 'BFGHDA' }), {
        redirect: 'manual',
      });
      expect(page.status).toBe(200);
    }
    const over = await fetch(authorizeUrl(sim, pkcePair().challenge, { practice: 'BFGHDA' }), {
      redirect: 'manual',
    });
    expect(over.status).toBe(429);
    expect((await metadata('BFGHDA')).status).toBe(429);
    expect((await metadata('JAFJCD')).status).toBe(200);
  });

  it('counts token calls against the practice bound to the code', async () => {
    await start();
    const { code, verifier } = await authorizeCode(sim, { practice: 'DEBIFC' });
    // 1 authorize call so far; 4 more FHIR calls fill the window.
    for (let i = 0; i < 4; i += 1) expect((await metadata('DEBIFC')).status).toBe(200);
    const token = await publicClientToken(sim.origin, { code, verifier });
    expect(token.status).toBe(429);
    expect(token.body.error).toBeDefined();
    // The code was not spent by the refused call.
    sim.clock.shift(1000);
    const retry = await publicClientToken(sim.origin, { code, verifier });
    expect(retry.status).toBe(200);
  });

  it('applies a rate-limit change from the admin API at once', async () => {
    await start();
    await sim.admin('PATCH', '/rate-limit', { limit: 2 });
    await metadata();
    await metadata();
    expect((await metadata()).status).toBe(429);
  });
});
