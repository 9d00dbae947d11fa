import { describe, expect, it } from 'vitest';
import { createLogger } from '../common/logger.ts';
import { createSealer } from '../common/seal.ts';
import type { WebhookEndpointRecord, WebhookEndpointRepository } from '../store/port.ts';
import { createWebhookEndpoints, endpointId, endpointSource } from './endpoints.ts';
import { sign } from './signature.ts';

/** The endpoints table as a map, enough for what this file checks. */
function memoryEndpoints(): WebhookEndpointRepository & {
  rows: Map<string, WebhookEndpointRecord>;
} {
  const rows = new Map<string, WebhookEndpointRecord>();
  return {
    rows,
    insert: async (e) => void rows.set(e.id, e),
    get: async (id) => rows.get(id),
    list: async () => [...rows.values()],
    async update(id, changes) {
      const row = rows.get(id);
      if (!row) return undefined;
      const next = { ...row, ...changes };
      rows.set(id, next);
      return next;
    },
    delete: async (id) => rows.delete(id),
  };
}

const key = (byte: number) => ({ id: 'k1', key: Buffer.alloc(32, byte) });
const CONFIGURED = { url: 'https://ops.example/hooks', secret: `whsec_${'A'.repeat(32)}` };

function setUp() {
  const table = memoryEndpoints();
  const store = { webhooks: { endpoints: table } } as never;
  const sealer = createSealer([key(1)]);
  const logger = createLogger({ level: 'silent' });
  const endpoints = createWebhookEndpoints({
    config: { webhooks: [CONFIGURED] },
    store,
    sealer,
    clock: { now: () => 1_000 },
    logger,
  });
  return { table, store, sealer, logger, endpoints };
}

describe('webhook endpoints made over the API', () => {
  it('keep their secret sealed, and the dispatcher signs with the secret that was shown', async () => {
    const { table, store, sealer, logger, endpoints } = setUp();
    const { endpoint, secret } = await endpoints.create({ url: 'https://app.example/in' });
    const row = table.rows.get(endpoint.id)!;
    expect(JSON.stringify(row)).not.toContain(secret.slice('whsec_'.length));
    expect(JSON.stringify(await endpoints.list())).not.toContain('whsec_');

    const source = endpointSource({ configured: [], store, sealer, logger });
    const [used] = await source();
    const message = { id: 'evt_1', timestamp: 1, body: '{}' };
    const shown = Buffer.from(secret.slice('whsec_'.length), 'base64');
    expect(sign(used!.key, message)).toBe(sign(shown, message));
  });

  it('leave out one whose secret does not open (another master key), and keep the rest', async () => {
    const { store, logger, endpoints } = setUp();
    await endpoints.create({ url: 'https://app.example/in', events: ['sync.*'] });
    const configured = [
      {
        id: endpointId(CONFIGURED.url),
        url: CONFIGURED.url,
        key: Buffer.alloc(1),
        wants: () => true,
      },
    ];
    const elsewhere = createSealer([key(2)]);
    expect(await endpointSource({ configured, store, sealer: elsewhere, logger })()).toEqual(
      configured,
    );
  });

  it('list the configured ones as read only', async () => {
    const { endpoints } = setUp();
    const id = endpointId(CONFIGURED.url);
    expect(await endpoints.get(id)).toMatchObject({ source: 'config', url: CONFIGURED.url });
    await expect(endpoints.update(id, { description: 'x' })).rejects.toMatchObject({
      code: 'invalid_request',
    });
    await expect(endpoints.delete(id)).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(endpoints.create({ url: CONFIGURED.url })).rejects.toMatchObject({
      code: 'conflict',
    });
  });
});
