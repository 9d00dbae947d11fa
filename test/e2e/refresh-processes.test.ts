// Two fhirbridge processes on one store (what two API/worker processes do): a refresh due in both
// at once calls healow once. Without the lease, healow's single-use refresh tokens would make the
// second refresh fail with invalid_grant and look like a revocation.
import { afterEach, expect, it } from 'vitest';
import { createLogger } from '../../src/common/logger.ts';
import { createRuntime, type Runtime } from '../../src/runtime.ts';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let stack: Stack | undefined;
let second: Runtime | undefined;
afterEach(async () => {
  await second?.close();
  await stack?.close();
  second = stack = undefined;
});

it('two processes due for the same refresh call the token endpoint once', async () => {
  stack = await startStack();
  const { connectionId } = await connectPatient(stack);
  second = await createRuntime({
    config: stack.runtime.config,
    clock: stack.clock,
    logger: createLogger({ level: 'silent' }),
  });

  // 56 minutes on: inside the 5-minute refresh leeway of the one-hour access token.
  stack.clock.shift(56 * 60_000);
  const [a, b] = await Promise.all([
    stack.runtime.vault.refresh(connectionId),
    second.vault.refresh(connectionId),
  ]);

  const counters = (await (await stack.admin('/counters/JAFJCD')).json()) as { refreshes: number };
  expect(counters.refreshes).toBe(1);
  expect(a.state).toBe('active');
  expect(b.state).toBe('active');
  expect(a.tokenVersion).toBe(b.tokenVersion);
  expect(a.refreshLeaseUntil).toBeNull();

  // And the stored refresh token is the rotated one: a later refresh from either process works.
  stack.clock.shift(56 * 60_000);
  expect((await second.vault.refresh(connectionId)).state).toBe('active');
  expect((await stack.runtime.vault.refresh(connectionId, { force: true })).state).toBe('active');
});
