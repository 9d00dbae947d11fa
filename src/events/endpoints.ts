// Webhook endpoints as the dispatcher uses them: those in the configuration (a stable id per
// URL) and those made over the API (kept in the store, their secret sealed with the master key),
// each with its HMAC key and the event types it wants. Also the API's side of the stored ones:
// create (the secret is shown once), read, change, delete.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { sha256Hex } from '../common/hash.ts';
import type { Logger } from '../common/logger.ts';
import { randomId } from '../common/random.ts';
import type { Sealer } from '../common/seal.ts';
import type { Config } from '../config/schema.ts';
import type { Store, WebhookEndpointRecord } from '../store/port.ts';
import { SECRET_PREFIX, secretKey } from './signature.ts';

export interface WebhookEndpoint {
  /** `ep_` + a hash of the URL (configured: stable across restarts) or `wep_…` (made over the API). */
  id: string;
  url: string;
  key: Buffer;
  wants(eventType: string): boolean;
}

/** Where the dispatcher reads its endpoints from on each pass: a fixed list, or a function. */
export type EndpointSource =
  | readonly WebhookEndpoint[]
  | (() => Promise<readonly WebhookEndpoint[]>);

export function endpointId(url: string): string {
  return `ep_${sha256Hex(url).slice(0, 16)}`;
}

/** `connection.*` matches every `connection.…` type; no list matches everything. */
export function eventFilter(
  events: readonly string[] | null | undefined,
): (type: string) => boolean {
  if (!events) return () => true;
  const exact = new Set(events.filter((e) => !e.endsWith('.*')));
  const families = events.filter((e) => e.endsWith('.*')).map((e) => e.slice(0, -1));
  return (type) => exact.has(type) || families.some((f) => type.startsWith(f));
}

export function configuredEndpoints(webhooks: Config['webhooks']): WebhookEndpoint[] {
  return webhooks.map((w) => ({
    id: endpointId(w.url),
    url: w.url,
    key: secretKey(w.secret),
    wants: eventFilter(w.events),
  }));
}

/** The associated data a stored endpoint's secret is sealed under: it opens for that id only. */
const secretContext = (id: string) => `webhook-endpoint:${id}`;

/** A new Standard Webhooks secret: `whsec_` and base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/**
 * The configured endpoints, then the stored ones, read again on every call so an endpoint made
 * or changed over the API (by any process) is used at the dispatcher's next pass. A stored
 * endpoint whose secret does not open (a master key no longer configured) is left out and logged.
 */
export function endpointSource({
  configured,
  store,
  sealer,
  logger,
}: {
  configured: readonly WebhookEndpoint[];
  store: Pick<Store, 'webhooks'>;
  sealer: Pick<Sealer, 'open'>;
  logger: Logger;
}): () => Promise<WebhookEndpoint[]> {
  return async () => {
    const stored: WebhookEndpoint[] = [];
    for (const record of await store.webhooks.endpoints.list()) {
      try {
        const secret = sealer.open(record.sealedSecret, secretContext(record.id));
        stored.push({
          id: record.id,
          url: record.url,
          key: secretKey(secret),
          wants: eventFilter(record.events),
        });
      } catch (error) {
        logger.error(
          { err: error, endpointId: record.id },
          'webhook endpoint secret does not open',
        );
      }
    }
    return [...configured, ...stored];
  };
}

/** A webhook endpoint as the API shows it: never its secret. */
export interface EndpointView {
  id: string;
  url: string;
  description: string | null;
  /** Event types or families it receives; null: every type. */
  events: string[] | null;
  /** `api`: made over the API (changeable); `config`: from the configuration file (read only). */
  source: 'api' | 'config';
  createdAt: string | null;
  updatedAt: string | null;
}

export interface EndpointInput {
  url: string;
  description?: string | null;
  events?: string[] | null;
}

export interface WebhookEndpoints {
  /** The endpoint and its secret: the only time the secret is ever shown. */
  create(input: EndpointInput): Promise<{ endpoint: EndpointView; secret: string }>;
  /** The configured endpoints, then the ones made over the API, oldest first. */
  list(): Promise<EndpointView[]>;
  get(id: string): Promise<EndpointView>;
  update(id: string, changes: Partial<EndpointInput>): Promise<EndpointView>;
  delete(id: string): Promise<void>;
}

function viewStored(record: WebhookEndpointRecord): EndpointView {
  return {
    id: record.id,
    url: record.url,
    description: record.description,
    events: record.events,
    source: 'api',
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
  };
}

function viewConfigured(endpoint: Config['webhooks'][number]): EndpointView {
  return {
    id: endpointId(endpoint.url),
    url: endpoint.url,
    description: null,
    events: endpoint.events ?? null,
    source: 'config',
    createdAt: null,
    updatedAt: null,
  };
}

export function createWebhookEndpoints({
  config,
  store,
  sealer,
  clock,
  logger,
}: {
  config: Pick<Config, 'webhooks'>;
  store: Pick<Store, 'webhooks'>;
  sealer: Pick<Sealer, 'seal'>;
  clock: Clock;
  logger: Logger;
}): WebhookEndpoints {
  const configured = () => config.webhooks.map(viewConfigured);
  const notFound = (id: string) => new BridgeError('not_found', `unknown webhook endpoint "${id}"`);
  const readOnly = (id: string) =>
    new BridgeError(
      'invalid_request',
      `webhook endpoint "${id}" is in the configuration file: change it there`,
    );
  const assertNewUrl = async (url: string, except?: string) => {
    const taken =
      config.webhooks.some((w) => w.url === url) ||
      (await store.webhooks.endpoints.list()).some((e) => e.url === url && e.id !== except);
    if (taken) throw new BridgeError('conflict', 'a webhook endpoint with this URL exists');
  };
  // Origin and path only: some receivers put a secret in the query.
  const shown = (url: string) => {
    const { origin, pathname } = new URL(url);
    return origin + pathname;
  };

  return {
    async create(input) {
      await assertNewUrl(input.url);
      const now = clock.now();
      const id = randomId('wep');
      const secret = newWebhookSecret();
      const record: WebhookEndpointRecord = {
        id,
        url: input.url,
        description: input.description ?? null,
        events: input.events ?? null,
        sealedSecret: sealer.seal(secret, secretContext(id)),
        createdAt: now,
        updatedAt: now,
      };
      await store.webhooks.endpoints.insert(record);
      logger.info({ endpointId: id, url: shown(record.url) }, 'webhook endpoint created');
      return { endpoint: viewStored(record), secret };
    },
    async list() {
      return [...configured(), ...(await store.webhooks.endpoints.list()).map(viewStored)];
    },
    async get(id) {
      const fromConfig = configured().find((e) => e.id === id);
      if (fromConfig) return fromConfig;
      const record = await store.webhooks.endpoints.get(id);
      if (!record) throw notFound(id);
      return viewStored(record);
    },
    async update(id, changes) {
      if (configured().some((e) => e.id === id)) throw readOnly(id);
      if (changes.url !== undefined) await assertNewUrl(changes.url, id);
      const record = await store.webhooks.endpoints.update(id, {
        ...(changes.url !== undefined ? { url: changes.url } : {}),
        ...(changes.description !== undefined ? { description: changes.description } : {}),
        ...(changes.events !== undefined ? { events: changes.events } : {}),
        updatedAt: clock.now(),
      });
      if (!record) throw notFound(id);
      logger.info({ endpointId: id, url: shown(record.url) }, 'webhook endpoint changed');
      return viewStored(record);
    },
    async delete(id) {
      if (configured().some((e) => e.id === id)) throw readOnly(id);
      if (!(await store.webhooks.endpoints.delete(id))) throw notFound(id);
      logger.info({ endpointId: id }, 'webhook endpoint deleted');
    },
  };
}
