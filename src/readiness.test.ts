// /healthz and /readyz in-process: ready while every dependency answers, 503 naming the one that
// does not (its error's class and code, never its message), 503 for a ping slower than the
// timeout, and `draining` once shutdown began.
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { ManualClock } from './common/clock.ts';
import { ManualTimers } from './common/timers.ts';
import { createReadiness, registerHealthRoutes } from './readiness.ts';

function appWith(checks: Record<string, () => Promise<unknown>>, timers?: ManualTimers) {
  const clock = new ManualClock();
  const readiness = createReadiness({
    checks,
    clock,
    timeoutMs: 2_000,
    ...(timers ? { timers } : {}),
  });
  const app = Fastify();
  registerHealthRoutes(app, readiness);
  return { app, readiness };
}

describe('readiness', () => {
  it('answers 200 with each dependency while all answer', async () => {
    const { app } = appWith({ store: async () => undefined, redis: async () => 'PONG' });
    const res = await app.inject('/readyz');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      status: 'ready',
      dependencies: { store: { ok: true, ms: 0 }, redis: { ok: true, ms: 0 } },
    });
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
  });

  it('answers 503 naming the failing dependency, without its message', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED redis://:s3cret@10.0.0.9'), {
      code: 'ECONNREFUSED',
    });
    const { app } = appWith({
      store: async () => undefined,
      redis: async () => {
        throw refused;
      },
    });
    const res = await app.inject('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({
      status: 'not_ready',
      dependencies: {
        store: { ok: true, ms: 0 },
        redis: { ok: false, ms: 0, error: 'Error ECONNREFUSED' },
      },
    });
    expect(res.body).not.toContain('s3cret');
  });

  it('a dependency slower than the timeout is not ready', async () => {
    const timers = new ManualTimers(new ManualClock());
    const { app } = appWith({ store: () => new Promise(() => {}) }, timers);
    const pending = app.inject('/readyz');
    await new Promise((resolve) => setImmediate(resolve));
    await timers.advance(2_000);
    const res = await pending;
    expect(res.statusCode).toBe(503);
    expect(res.json().dependencies.store).toMatchObject({ ok: false, error: 'TimeoutError' });
  });

  it('reports draining once shutdown began, while the process stays healthy', async () => {
    const { app, readiness } = appWith({ store: async () => undefined });
    readiness.drain();
    const res = await app.inject('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.json().status).toBe('draining');
    expect((await app.inject('/healthz')).statusCode).toBe(200);
  });
});
