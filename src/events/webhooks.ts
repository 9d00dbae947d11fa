// Webhooks, as the rest of fhirbridge sees them: the dispatcher that the server starts, and the
// delivery outbox the API lists and redelivers from. What a delivery looks like from outside is
// `viewDelivery` (the body it sends, never the signing secret).

import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Sealer } from '../common/seal.ts';
import type { Timers } from '../common/timers.ts';
import type { Config } from '../config/schema.ts';
import type { DeliveryFilter, DeliveryRecord, Store } from '../store/port.ts';
import { createWebhookDispatcher, type WebhookDispatcher } from './dispatcher.ts';
import { configuredEndpoints, endpointSource, type WebhookEndpoint } from './endpoints.ts';

export interface WebhooksDeps {
  config: Pick<Config, 'webhooks' | 'webhookDelivery'>;
  store: Pick<Store, 'events' | 'webhooks'>;
  clock: Clock;
  logger: Logger;
  /** Opens the secrets of endpoints made over the API; without it only configured ones are used. */
  sealer?: Pick<Sealer, 'open'>;
  timers?: Timers;
  /** How deliveries are sent (tests count or fail them). */
  fetch?: typeof fetch;
}

export interface DeliveryView {
  id: string;
  eventId: string;
  eventType: string;
  connectionId: string | null;
  url: string;
  status: DeliveryRecord['status'];
  attempts: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  redeliveries: number;
  createdAt: string;
  /** The JSON body every attempt sends. */
  payload: unknown;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function viewDelivery(d: DeliveryRecord): DeliveryView {
  return {
    id: d.id,
    eventId: d.eventId,
    eventType: d.eventType,
    connectionId: d.connectionId,
    url: d.url,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? iso(d.nextAttemptAt) : null,
    lastAttemptAt: iso(d.lastAttemptAt),
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    deliveredAt: iso(d.deliveredAt),
    redeliveries: d.redeliveries,
    createdAt: new Date(d.createdAt).toISOString(),
    payload: JSON.parse(d.payload),
  };
}

export interface Webhooks {
  /** The configured endpoints (those made over the API are read by the dispatcher each pass). */
  readonly endpoints: readonly WebhookEndpoint[];
  readonly dispatcher: WebhookDispatcher;
  list(filter: DeliveryFilter): Promise<DeliveryRecord[]>;
  get(id: string): Promise<DeliveryRecord>;
  /** Sends it again from a fresh count of attempts, at the dispatcher's next pass. */
  redeliver(id: string): Promise<DeliveryRecord>;
}

export function createWebhooks({
  config,
  store,
  clock,
  logger,
  sealer,
  timers,
  fetch,
}: WebhooksDeps): Webhooks {
  const endpoints = configuredEndpoints(config.webhooks);
  const dispatcher = createWebhookDispatcher({
    store,
    endpoints: sealer
      ? endpointSource({ configured: endpoints, store, sealer, logger })
      : endpoints,
    clock,
    logger,
    delivery: config.webhookDelivery,
    ...(timers ? { timers } : {}),
    ...(fetch ? { fetch } : {}),
  });
  const notFound = (id: string) => new BridgeError('not_found', `unknown webhook delivery "${id}"`);
  return {
    endpoints,
    dispatcher,
    list: (filter) => store.webhooks.list(filter),
    async get(id) {
      const delivery = await store.webhooks.get(id);
      if (!delivery) throw notFound(id);
      return delivery;
    },
    async redeliver(id) {
      const delivery = await store.webhooks.redeliver(id, clock.now());
      if (!delivery) throw notFound(id);
      return delivery;
    },
  };
}
