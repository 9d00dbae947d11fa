// The webhooks part of the store port (re-exported by port.ts): per-endpoint cursors over the
// events table, the delivery outbox (one row per event × endpoint), once-only events, and the
// endpoints made over the API.
import type { EventRecord } from './port.ts';

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface DeliveryRecord {
  id: string;
  eventId: string;
  eventType: string;
  connectionId: string | null;
  /** The endpoint's id: `ep_…` (configured, derived from its URL) or `wep_…` (made over the API). */
  endpointId: string;
  url: string;
  /** The exact JSON body sent on every attempt. */
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  /** For `pending`: when the next attempt is due. */
  nextAttemptAt: number | null;
  lastAttemptAt: number | null;
  /** HTTP status of the last attempt; null when it got no answer. */
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  /** How many times an operator asked for it again. */
  redeliveries: number;
  createdAt: number;
  updatedAt: number;
}

/** What one attempt came to. */
export type AttemptOutcome =
  | { kind: 'delivered'; at: number; status: number }
  | { kind: 'retry'; at: number; status: number | null; error: string; nextAttemptAt: number }
  | { kind: 'dead'; at: number; status: number | null; error: string };

export interface DeliveryFilter {
  status?: DeliveryStatus;
  eventType?: string;
  connectionId?: string;
  limit: number;
  offset?: number;
}

export interface WebhookRepository {
  /**
   * The endpoint's cursor: the id of the last event it fanned out (null: from the start).
   * A new endpoint starts after the newest event, so it is not flooded with history.
   */
  cursor(endpointId: string, now: number): Promise<string | null>;
  /**
   * Inserts `deliveries` (an existing event × endpoint pair is skipped) and moves the endpoint's
   * cursor from `from` to `to`, atomically; false (nothing written) when the cursor is no longer
   * at `from` because another dispatcher moved it first.
   */
  fanOut(
    endpointId: string,
    from: string | null,
    to: string,
    deliveries: readonly DeliveryRecord[],
    now: number,
  ): Promise<boolean>;
  /**
   * Takes up to `limit` pending deliveries due by `now`, oldest due first, moving their
   * nextAttemptAt to `leaseUntil` so that no other dispatcher sends them meanwhile.
   */
  claimDue(now: number, leaseUntil: number, limit: number): Promise<DeliveryRecord[]>;
  /** Records an attempt: counts it and sets the status the outcome says. */
  recordAttempt(id: string, outcome: AttemptOutcome): Promise<DeliveryRecord | undefined>;
  /** Makes a delivery pending again, due at `now`, with a fresh count of attempts. */
  redeliver(id: string, now: number): Promise<DeliveryRecord | undefined>;
  get(id: string): Promise<DeliveryRecord | undefined>;
  /** Newest first. */
  list(filter: DeliveryFilter): Promise<DeliveryRecord[]>;
  /** Appends `event` unless `onceKey` was used before, atomically; true when it was appended. */
  appendEventOnce(onceKey: string, event: EventRecord): Promise<boolean>;
  /** The endpoints made over the API. */
  readonly endpoints: WebhookEndpointRepository;
}

/** A webhook endpoint made over the API (configured endpoints live in config, not here). */
export interface WebhookEndpointRecord {
  /** `wep_…`, random; the dispatcher's cursor and deliveries are keyed by it. */
  id: string;
  url: string;
  description: string | null;
  /** Event types or families (`connection.*`) it wants; null: every type. */
  events: string[] | null;
  /** The `whsec_…` signing secret sealed with the master key; never stored in plain text. */
  sealedSecret: string;
  createdAt: number;
  updatedAt: number;
}

export type WebhookEndpointChanges = Partial<
  Pick<WebhookEndpointRecord, 'url' | 'description' | 'events'>
> & { updatedAt: number };

export interface WebhookEndpointRepository {
  /** A duplicate id is BridgeError('conflict'). */
  insert(endpoint: WebhookEndpointRecord): Promise<void>;
  get(id: string): Promise<WebhookEndpointRecord | undefined>;
  /** Oldest first. */
  list(): Promise<WebhookEndpointRecord[]>;
  /** Changes the fields given; undefined when there is no such endpoint. */
  update(id: string, changes: WebhookEndpointChanges): Promise<WebhookEndpointRecord | undefined>;
  /** True when it existed. Its deliveries stay in the outbox. */
  delete(id: string): Promise<boolean>;
}
