import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import type { ConnectionRecord, Store } from '../store/port.ts';
import { createRefreshScheduler } from './scheduler.ts';

const logger = createLogger({ level: 'silent' });

function fixture(ids: string[], outcome: (id: string) => 'ok' | 'fail' | 'revoked') {
  const clock = new ManualClock();
  const calls: string[] = [];
  const store = {
    connections: {
      listExpiring: async (_before: number, limit: number) =>
        ids.slice(0, limit).map((id) => ({ id }) as ConnectionRecord),
    },
  } as unknown as Store;
  const vault = {
    refresh: async (id: string) => {
      calls.push(id);
      const result = outcome(id);
      if (result === 'fail') throw new BridgeError('upstream_error', 'down');
      if (result === 'revoked') throw new BridgeError('revoked', 'revoked');
      return { id } as ConnectionRecord;
    },
  };
  const scheduler = createRefreshScheduler({
    vault,
    store,
    clock,
    logger,
    leewayMs: 300_000,
    intervalMs: 60_000,
    batchSize: 2,
  });
  return { clock, calls, scheduler };
}

describe('refresh scheduler', () => {
  it('refreshes the due connections and counts revocations as states, not failures', async () => {
    const { calls, scheduler } = fixture(['a', 'b'], (id) => (id === 'a' ? 'revoked' : 'ok'));
    expect(await scheduler.runOnce()).toEqual({ refreshed: 1, failed: 0 });
    expect(calls).toEqual(['a', 'b']);
  });

  it('backs off failing connections so they cannot starve the others', async () => {
    const { clock, calls, scheduler } = fixture(['broken', 'x', 'y'], (id) =>
      id === 'broken' ? 'fail' : 'ok',
    );
    expect(await scheduler.runOnce()).toEqual({ refreshed: 1, failed: 1 });
    expect(calls).toEqual(['broken', 'x']);
    calls.length = 0;
    // Next pass: the broken one waits, and the batch reaches further.
    expect(await scheduler.runOnce()).toEqual({ refreshed: 2, failed: 0 });
    expect(calls).toEqual(['x', 'y']);
    calls.length = 0;
    clock.advance(61_000);
    await scheduler.runOnce();
    expect(calls[0]).toBe('broken');
  });
});
