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

  // Connections whose refresh failed for a passing reason wait before the next try (doubling up
  // to an hour), so that a few broken ones at the head of the list cannot starve the rest.
  const backoff = new Map<string, { until: number; delayMs: number }>();

  /** One pass; returns how many connections it refreshed. Revocations are states, not failures. */
  async function runOnce(): Promise<{ refreshed: number; failed: number }> {
    const now = clock.now();
    const candidates = await store.connections.listExpiring(
      now + leewayMs,
      batchSize + backoff.size,
    );
    const due = candidates
      .filter((c) => (backoff.get(c.id)?.until ?? 0) <= now)
      .slice(0, batchSize);
    let refreshed = 0;
    let failed = 0;
    for (const connection of due) {
      try {
        await vault.refresh(connection.id);
        backoff.delete(connection.id);
        refreshed++;
      } catch (error) {
        if (
          isBridgeError(error, 'revoked') ||
          isBridgeError(error, 'expired') ||
          isBridgeError(error, 'reauthorization_required')
        ) {
          backoff.delete(connection.id);
          continue;
        }
        failed++;
        const delayMs = Math.min(
          (backoff.get(connection.id)?.delayMs ?? intervalMs / 2) * 2,
          3_600_000,
        );
        backoff.set(connection.id, { until: clock.now() + delayMs, delayMs });
        logger.warn(
          { connectionId: connection.id, err: error, retryInMs: delayMs },
          'background refresh failed',
        );
      }
    }
    return { refreshed, failed };
  }

  return {
    runOnce,
    start() {
      timer = setInterval(() => {
        // A failed pass (a busy database) is logged, never an unhandled rejection.
        running ??= runOnce()
          .catch((error: unknown) => logger.error({ err: error }, 'background refresh pass failed'))
          .finally(() => {
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
