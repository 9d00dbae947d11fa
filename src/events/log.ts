// Connection and sync events, appended to the store's outbox (webhook delivery builds on it)
// and logged. Event data never carries a token.
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { randomId } from '../common/random.ts';
import type { EventRecord, Store } from '../store/port.ts';

export type EventType =
  | 'connection.connected'
  | 'connection.declined'
  | 'connection.revoked'
  | 'connection.reauthorization_required'
  | 'connection.expired'
  | 'connection.disconnected'
  | 'connection.error'
  | 'connection.expiring'
  | 'sync.completed'
  /** An attempt that did not finish the run; another attempt of the same run follows. */
  | 'sync.retrying'
  /** The run failed for good (`final: true`): sent once per run. */
  | 'sync.failed';

export interface EventLog {
  emit(
    type: EventType,
    connectionId: string | null,
    data?: Record<string, unknown>,
  ): Promise<EventRecord>;
}

export function createEventLog({
  store,
  clock,
  logger,
}: {
  store: Store;
  clock: Clock;
  logger: Logger;
}): EventLog {
  return {
    async emit(type, connectionId, data = {}) {
      const event: EventRecord = {
        id: randomId('evt'),
        type,
        connectionId,
        data,
        createdAt: clock.now(),
      };
      await store.events.append(event);
      logger.info({ event: type, connectionId, ...data }, 'event');
      return event;
    },
  };
}
