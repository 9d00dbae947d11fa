// The webhook dispatcher. Fan-out: for each endpoint, read the events after its persisted cursor
// and write one delivery per wanted event, moving the cursor in the same transaction (so an
// event appended by any process is delivered once, even across crashes). Delivery: send due
// deliveries signed, retry failures with exponential backoff, dead-letter after maxAttempts.

import { exponentialDelay } from '../common/backoff.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import { randomId } from '../common/random.ts';
import { realTimers, type Timers } from '../common/timers.ts';
import type { Config } from '../config/schema.ts';
import type { AttemptOutcome, DeliveryRecord, Store } from '../store/port.ts';
import type { EndpointSource, WebhookEndpoint } from './endpoints.ts';
import { webhookPayload } from './payload.ts';
import { webhookHeaders } from './signature.ts';

/** Growth of the retry delay per attempt: 10 s, 40 s, 2.7 min, 11 min, 43 min, 2.8 h, ... */
const BACKOFF_FACTOR = 4;

export interface DispatcherDeps {
  store: Pick<Store, 'events' | 'webhooks'>;
  /** A fixed list, or a function read again on every pass (endpoints made over the API). */
  endpoints: EndpointSource;
  clock: Clock;
  logger: Logger;
  timers?: Timers;
  fetch?: typeof fetch;
  delivery: Config['webhookDelivery'];
  /** Events read per endpoint per fan-out step, and deliveries sent per batch. */
  batchSize?: number;
}

export interface WebhookDispatcher {
  /** Fans out new events, then sends what is due; returns how many attempts it made. */
  runOnce(): Promise<number>;
  start(): void;
  close(): Promise<void>;
}

/** Why an attempt failed, for the delivery row: a status, or how the connection failed. */
function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause = (error as { cause?: { code?: unknown } })?.cause?.code;
  return `could not connect${typeof cause === 'string' ? ` (${cause})` : ''}`;
}

export function createWebhookDispatcher({
  store,
  endpoints,
  clock,
  logger,
  timers = realTimers,
  fetch: send = fetch,
  delivery,
  batchSize = 50,
}: DispatcherDeps): WebhookDispatcher {
  const current = async () => (typeof endpoints === 'function' ? endpoints() : endpoints);
  let byId = new Map<string, WebhookEndpoint>();
  let timer: unknown;
  let running: Promise<unknown> | undefined;
  let closed = false;

  async function fanOut(endpoint: WebhookEndpoint): Promise<void> {
    for (;;) {
      const from = await store.webhooks.cursor(endpoint.id, clock.now());
      const events = await store.events.list({
        ...(from === null ? {} : { after: from }),
        limit: batchSize,
      });
      const last = events.at(-1);
      if (!last) return;
      const now = clock.now();
      const deliveries: DeliveryRecord[] = events
        .filter((event) => endpoint.wants(event.type))
        .map((event) => ({
          id: randomId('whd'),
          eventId: event.id,
          eventType: event.type,
          connectionId: event.connectionId,
          endpointId: endpoint.id,
          url: endpoint.url,
          payload: JSON.stringify(webhookPayload(event)),
          status: 'pending',
          attempts: 0,
          nextAttemptAt: now,
          lastAttemptAt: null,
          lastStatus: null,
          lastError: null,
          deliveredAt: null,
          redeliveries: 0,
          createdAt: now,
          updatedAt: now,
        }));
      // false: another dispatcher moved the cursor first; read again from where it is now.
      await store.webhooks.fanOut(endpoint.id, from, last.id, deliveries, now);
      if (events.length < batchSize) return;
    }
  }

  function outcomeOf(d: DeliveryRecord, at: number, status: number | null, error: string) {
    const attempt = d.attempts + 1;
    if (attempt >= delivery.maxAttempts) return { kind: 'dead', at, status, error } as const;
    const wait = exponentialDelay(attempt, {
      initialMs: delivery.initialDelayMs,
      factor: BACKOFF_FACTOR,
      maxMs: delivery.maxDelayMs,
    });
    return { kind: 'retry', at, status, error, nextAttemptAt: at + wait } as const;
  }

  async function attempt(d: DeliveryRecord): Promise<void> {
    const endpoint = byId.get(d.endpointId);
    const at = clock.now();
    let outcome: AttemptOutcome;
    if (!endpoint) {
      // Its endpoint left the configuration: nobody to send to, and no key to sign with.
      outcome = { kind: 'dead', at, status: null, error: 'the endpoint is no longer configured' };
    } else {
      try {
        const response = await send(endpoint.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'fhirbridge-webhooks',
            ...webhookHeaders(endpoint.key, {
              id: d.eventId,
              timestamp: Math.floor(at / 1000),
              body: d.payload,
            }),
          },
          body: d.payload,
          // Standard Webhooks: a redirect is a failure, not something to follow.
          redirect: 'manual',
          signal: AbortSignal.timeout(delivery.timeoutMs),
        });
        await response.body?.cancel().catch(() => undefined);
        outcome =
          response.status >= 200 && response.status < 300
            ? { kind: 'delivered', at: clock.now(), status: response.status }
            : outcomeOf(d, clock.now(), response.status, `HTTP ${response.status}`);
      } catch (error) {
        outcome = outcomeOf(d, clock.now(), null, describeFailure(error, delivery.timeoutMs));
      }
    }
    await store.webhooks.recordAttempt(d.id, outcome);
    const level = outcome.kind === 'dead' ? 'warn' : 'debug';
    logger[level](
      { deliveryId: d.id, event: d.eventType, outcome: outcome.kind, attempt: d.attempts + 1 },
      'webhook attempt',
    );
  }

  async function runOnce(): Promise<number> {
    const list = await current();
    byId = new Map(list.map((e) => [e.id, e]));
    for (const endpoint of list) {
      try {
        await fanOut(endpoint);
      } catch (error) {
        // Origin and path only: some receivers put a secret in the query.
        const { origin, pathname } = new URL(endpoint.url);
        logger.error({ err: error, endpoint: origin + pathname }, 'webhook fan-out failed');
      }
    }
    let attempts = 0;
    for (;;) {
      const now = clock.now();
      // The claim is a lease: a process that dies mid-send leaves the delivery due again later.
      const due = await store.webhooks.claimDue(now, now + delivery.timeoutMs + 60_000, batchSize);
      if (due.length === 0) return attempts;
      await Promise.all(due.map(attempt));
      attempts += due.length;
      if (closed || due.length < batchSize) return attempts;
    }
  }

  const tick = () => {
    running = runOnce()
      .catch((error: unknown) => logger.error({ err: error }, 'webhook dispatch failed'))
      .finally(() => {
        running = undefined;
        if (!closed) timer = timers.setTimeout(tick, delivery.pollIntervalMs);
      });
  };

  return {
    runOnce,
    start() {
      if (closed || running || timer !== undefined) return;
      // At once: a new endpoint's cursor starts now, before the events that come next.
      // Runs without endpoints too: deliveries left for a removed endpoint get dead-lettered.
      tick();
    },
    async close() {
      closed = true;
      timers.clearTimeout(timer);
      await running;
    },
  };
}
