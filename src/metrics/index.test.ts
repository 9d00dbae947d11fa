import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import {
  countConnectionStates,
  createMetrics,
  observeRefreshes,
  observeSyncRuns,
  observeWebhookDeliveries,
  withOverrides,
} from './index.ts';

/** One sample's value from the registry's text. */
async function sample(metrics: ReturnType<typeof createMetrics>, line: string) {
  const text = await metrics.registry.metrics();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('withOverrides', () => {
  it('keeps a class instance working: other methods run on the original, private fields and all', async () => {
    class Outbox {
      #sent = 0;
      async recordAttempt(_id: string, _outcome: { kind: string }) {
        this.#sent++;
      }
      sent() {
        return this.#sent;
      }
    }
    const outbox = new Outbox();
    const metrics = createMetrics();
    const observed = observeWebhookDeliveries(outbox, metrics);
    await observed.recordAttempt('whd_1', { kind: 'delivered' });
    await observed.recordAttempt('whd_2', { kind: 'dead' });
    expect(observed.sent()).toBe(2);
    expect(await sample(metrics, 'fhirbridge_webhook_deliveries_total{outcome="delivered"}')).toBe(
      1,
    );
    expect(await sample(metrics, 'fhirbridge_webhook_deliveries_total{outcome="dead"}')).toBe(1);
    expect(withOverrides(outbox, {}).sent()).toBe(2);
  });
});

describe('observeRefreshes', () => {
  const answer = (status: number) => async () => new Response('{}', { status });
  const refresh = { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token' }) };

  it('counts refresh_token grants by how they ended, and nothing else', async () => {
    const metrics = createMetrics();
    await observeRefreshes(answer(200), metrics)('https://as/token', refresh);
    await observeRefreshes(answer(400), metrics)('https://as/token', refresh);
    await observeRefreshes(answer(503), metrics)('https://as/token', refresh);
    await observeRefreshes(answer(200), metrics)('https://as/token', {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'authorization_code' }),
    });
    const failing = observeRefreshes(async () => Promise.reject(new Error('reset')), metrics);
    await expect(failing('https://as/token', refresh)).rejects.toThrow('reset');
    for (const [outcome, count] of [
      ['refreshed', 1],
      ['rejected', 1],
      ['failed', 1],
      ['unanswered', 1],
    ] as const) {
      expect(
        await sample(metrics, `fhirbridge_token_refreshes_total{outcome="${outcome}"}`),
        outcome,
      ).toBe(count);
    }
  });
});

describe('observeSyncRuns', () => {
  it('times each run on the clock and labels it with its outcome, a failure included', async () => {
    const clock = new ManualClock();
    const metrics = createMetrics();
    const engine = observeSyncRuns(
      {
        async run(id: string) {
          clock.advance(90_000);
          if (id === 'con_bad') throw new Error('revoked');
          return { outcome: 'partial' };
        },
      },
      metrics,
      clock,
    );
    await engine.run('con_good');
    await expect(engine.run('con_bad')).rejects.toThrow('revoked');
    expect(await sample(metrics, 'fhirbridge_sync_duration_seconds_sum{outcome="partial"}')).toBe(
      90,
    );
    expect(await sample(metrics, 'fhirbridge_sync_duration_seconds_count{outcome="failed"}')).toBe(
      1,
    );
  });
});

describe('countConnectionStates', () => {
  it('reads every page', async () => {
    const rows = Array.from({ length: 5 }, (_, i) => ({ state: i < 3 ? 'active' : 'revoked' }));
    const counts = await countConnectionStates(
      { list: async ({ limit, offset = 0 }) => rows.slice(offset, offset + limit) },
      { pageSize: 2 },
    );
    expect(counts).toEqual({ active: 3, revoked: 2 });
  });
});
