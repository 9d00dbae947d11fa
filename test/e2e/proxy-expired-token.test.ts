// Many proxied reads at once on a connection whose access token has lapsed: the refresh token is
// single-use at healow, so exactly one refresh may reach the token endpoint, and every read
// waits for it and then answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

// The bench (npm run bench, proxy) makes 1,000; this many keeps the suite quick on two cores.
const READS = 300;
const UNTHROTTLED = 1_000_000;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    simulator: { rateLimit: { limit: UNTHROTTLED } },
    config: {
      budget: { limit: UNTHROTTLED },
      sync: { concurrency: 0, onConnect: false, intervalMs: 0 },
    },
  });
});
afterAll(() => stack.close());

interface Counters {
  /** Grants of an authorization code. */
  tokensIssued: number;
  refreshes: number;
}
const counters = async () => (await (await stack.admin('/counters/JAFJCD')).json()) as Counters;

describe('proxied reads on an expired access token', () => {
  it(`answers ${READS} concurrent reads 200 after exactly one token call`, async () => {
    const { connectionId } = await connectPatient(stack);
    const connection = await stack.runtime.vault.get(connectionId);
    // Both sides' clocks past the access token's end: the simulator refuses it from now on.
    stack.clock.shift((connection.accessExpiresAt ?? 0) - stack.clock.now() + 1000);
    const before = await counters();
    const path = `/api/connections/${connectionId}/fhir/Patient/${connection.patientId}`;
    const statuses = await Promise.all(
      Array.from({ length: READS }, async () => {
        const res = await stack.api(path);
        await res.arrayBuffer();
        return res.status;
      }),
    );
    const after = await counters();
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    // The token endpoint's calls: one refresh, and no new grant.
    expect(after.refreshes - before.refreshes).toBe(1);
    expect(after.tokensIssued - before.tokensIssued).toBe(0);
  });
});
