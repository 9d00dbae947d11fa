// The background refresher: every interval, refresh the active connections whose access token
// lapses within the leeway, so that a user's read rarely waits for a token call.
import type { Clock } from '../common/clock.ts';
import { isBridgeError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Store } from '../store/port.ts';
import type { Vault } from './vault.ts';

export interface RefreshSchedulerDeps {
  vault: Pick<Vault, 'refresh'>;
  store: Store;
  clock: Clock;
  logger: Logger;
  leewayMs: number;
  intervalMs: number;
  batchSize?: number;
}

export function createRefreshScheduler({
  vault,
  store,
  clock,
  logger,
  leewayMs,
  intervalMs,
  batchSize = 100,
}: RefreshSchedulerDeps) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

  /** One pass; returns how many connections it refreshed. Revocations are states, not failures. */
  async function runOnce(): Promise<{ refreshed: number; failed: number }> {
    const due = await store.connections.listExpiring(clock.now() + leewayMs, batchSize);
    let refreshed = 0;
    let failed = 0;
    for (const connection of due) {
      try {
        await vault.refresh(connection.id);
        refreshed++;
      } catch (error) {
        if (isBridgeError(error, 'revoked') || isBridgeError(error, 'expired')) continue;
        failed++;
        logger.warn({ connectionId: connection.id, err: error }, 'background refresh failed');
      }
    }
    return { refreshed, failed };
  }

  return {
    runOnce,
    start() {
      timer = setInterval(() => {
        running ??= runOnce().finally(() => {
          running = undefined;
        });
      }, intervalMs);
      timer.unref();
    },
    async close() {
      clearInterval(timer);
      await running;
    },
  };
}
