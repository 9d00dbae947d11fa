// Short-lived access tokens (60 s, as some SMART servers issue) against the default 5-minute
// refresh leeway: the leeway shrinks to half the token's lifetime, so a token is refreshed about
// once per half-life instead of before every call.
import { afterEach, expect, it } from 'vitest';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

it('with 60 s access tokens, two minutes of proxied reads refresh at most 5 times', async () => {
  stack = await startStack({ simulator: { accessTokenLifetimeS: 60 } });
  const s = stack;
  expect(s.runtime.config.refresh.leewayMs).toBe(5 * 60_000);
  const { connectionId } = await connectPatient(s);
  const { patient } = (await (await s.api(`/api/connections/${connectionId}`)).json()) as {
    patient: string;
  };

  // A read every 5 s of the injected clock for 2 minutes: 24 reads.
  for (let elapsed = 0; elapsed < 120_000; elapsed += 5_000) {
    s.clock.shift(5_000);
    const read = await s.api(`/api/connections/${connectionId}/fhir/Patient/${patient}`);
    expect(read.status).toBe(200);
  }
  const counters = (await (await s.admin('/counters/JAFJCD')).json()) as { refreshes: number };
  // Every 30 s of a 60 s token: 4 in 2 minutes (5 if the real milliseconds tip one over).
  expect(counters.refreshes).toBeGreaterThanOrEqual(3);
  expect(counters.refreshes).toBeLessThanOrEqual(5);
  const record = await s.runtime.vault.get(connectionId);
  expect(record.accessExpiresAt! - record.accessIssuedAt!).toBeGreaterThanOrEqual(60_000);
});
