// `connection.expiring`: a scheduled check over active connections whose refresh token ends
// within the notice window (healow's refresh tokens live 90 days from the grant and a refresh
// does not extend them), so the app can ask the patient to re-consent before the data stops.
// Once per connection and grant: the event and its once-key are written in one transaction.

import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { randomId } from '../common/random.ts';
import { realTimers, type Timers } from '../common/timers.ts';
import type { Store } from '../store/port.ts';

const DAY = 24 * 3_600_000;

export interface ExpiryNoticeDeps {
  store: Pick<Store, 'connections' | 'webhooks'>;
  clock: Clock;
  logger: Logger;
  timers?: Timers;
  noticeDays: number;
  checkIntervalMs: number;
  pageSize?: number;
}

export interface ExpiryNotices {
  /** One pass; returns how many `connection.expiring` events it appended. */
  runOnce(): Promise<number>;
  start(): void;
  close(): Promise<void>;
}

export function createExpiryNotices({
  store,
  clock,
  logger,
  timers = realTimers,
  noticeDays,
  checkIntervalMs,
  pageSize = 500,
}: ExpiryNoticeDeps): ExpiryNotices {
  let timer: unknown;
  let running: Promise<unknown> | undefined;
  let closed = false;

  async function runOnce(): Promise<number> {
    let emitted = 0;
    const now = clock.now();
    for (let offset = 0; ; offset += pageSize) {
      const page = await store.connections.list({ limit: pageSize, offset });
      for (const c of page) {
        const ends = c.refreshExpiresAt;
        if (c.state !== 'active' || ends === null) continue;
        if (now < ends - noticeDays * DAY || now >= ends) continue;
        // The grant is named by its end: a re-consent gives a new end, hence a new notice.
        const appended = await store.webhooks.appendEventOnce(
          `connection.expiring:${c.id}:${ends}`,
          {
            id: randomId('evt'),
            type: 'connection.expiring',
            connectionId: c.id,
            data: {
              refreshExpiresAt: new Date(ends).toISOString(),
              daysLeft: Math.floor((ends - now) / DAY),
            },
            createdAt: now,
          },
        );
        if (!appended) continue;
        emitted++;
        logger.info({ event: 'connection.expiring', connectionId: c.id }, 'event');
      }
      if (page.length < pageSize) return emitted;
    }
  }

  const schedule = (wait: number) => {
    if (closed) return;
    timer = timers.setTimeout(() => {
      running = runOnce()
        .catch((error: unknown) => logger.warn({ err: error }, 'expiry check failed'))
        .finally(() => {
          running = undefined;
          schedule(checkIntervalMs);
        });
    }, wait);
  };

  return {
    runOnce,
    start() {
      schedule(0);
    },
    async close() {
      closed = true;
      timers.clearTimeout(timer);
      await running;
    },
  };
}
