// The webhooks part of the store contract (run by storeContract in contract.ts): every adapter's
// WebhookRepository must pass it.
import { beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryRecord, EventRecord, Store, WebhookEndpointRecord } from './port.ts';

const T0 = Date.UTC(2026, 0, 1);

// Its own event helper: contract.ts imports this file, so importing back would be a cycle.
function event(overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    id: 'evt_1',
    type: 'connection.connected',
    connectionId: 'con_1',
    data: { patient: 'pat-1' },
    createdAt: T0,
    ...overrides,
  };
}

export function delivery(overrides: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return {
    id: 'whd_1',
    eventId: 'evt_1',
    eventType: 'connection.connected',
    connectionId: 'con_1',
    endpointId: 'ep_1',
    url: 'https://app.example/hooks',
    payload: '{"type":"connection.connected"}',
    status: 'pending',
    attempts: 0,
    nextAttemptAt: T0,
    lastAttemptAt: null,
    lastStatus: null,
    lastError: null,
    deliveredAt: null,
    redeliveries: 0,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function endpoint(overrides: Partial<WebhookEndpointRecord> = {}): WebhookEndpointRecord {
  return {
    id: 'wep_1',
    url: 'https://app.example/hooks',
    description: null,
    events: null,
    sealedSecret: 'v1.k1.iv.ct.tag',
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** Runs inside storeContract, on the store its beforeEach opened. */
export function webhooksContract(current: () => Store): void {
  describe('webhooks', () => {
    let store: Store;
    beforeEach(() => {
      store = current();
    });

    it('starts a new endpoint after the newest event and keeps its cursor', async () => {
      expect(await store.webhooks.cursor('ep_empty', T0)).toBeNull();
      await store.events.append(event({ id: 'evt_1' }));
      await store.events.append(event({ id: 'evt_2' }));
      expect(await store.webhooks.cursor('ep_empty', T0)).toBeNull(); // known: stays at the start
      expect(await store.webhooks.cursor('ep_new', T0)).toBe('evt_2');
      await store.events.append(event({ id: 'evt_3' }));
      expect(await store.webhooks.cursor('ep_new', T0)).toBe('evt_2');
    });

    it('fans out and moves the cursor atomically, as a compare-and-set', async () => {
      await store.webhooks.cursor('ep_1', T0);
      const d = delivery();
      expect(await store.webhooks.fanOut('ep_1', null, 'evt_1', [d], T0)).toBe(true);
      expect(await store.webhooks.cursor('ep_1', T0)).toBe('evt_1');
      expect(await store.webhooks.get('whd_1')).toEqual(d);
      // A second dispatcher that read from the old cursor writes nothing.
      expect(
        await store.webhooks.fanOut('ep_1', null, 'evt_1', [delivery({ id: 'whd_2' })], T0),
      ).toBe(false);
      expect(await store.webhooks.get('whd_2')).toBeUndefined();
      // An event × endpoint pair is fanned out once, even under another delivery id.
      expect(
        await store.webhooks.fanOut('ep_1', 'evt_1', 'evt_2', [delivery({ id: 'whd_3' })], T0),
      ).toBe(true);
      expect(await store.webhooks.get('whd_3')).toBeUndefined();
      expect(await store.webhooks.fanOut('ep_unknown', null, 'evt_1', [], T0)).toBe(false);
    });

    it('claims due pending deliveries under a lease', async () => {
      await store.webhooks.cursor('ep_1', T0);
      await store.webhooks.fanOut(
        'ep_1',
        null,
        'evt_3',
        [
          delivery({ id: 'whd_1', eventId: 'evt_1', nextAttemptAt: T0 + 5 }),
          delivery({ id: 'whd_2', eventId: 'evt_2', nextAttemptAt: T0, createdAt: T0 + 1 }),
          delivery({ id: 'whd_3', eventId: 'evt_3', nextAttemptAt: T0 + 100 }),
        ],
        T0,
      );
      const claimed = await store.webhooks.claimDue(T0 + 5, T0 + 60_000, 10);
      expect(claimed.map((d) => d.id)).toEqual(['whd_1', 'whd_2']);
      expect(claimed.every((d) => d.nextAttemptAt === T0 + 60_000)).toBe(true);
      expect(await store.webhooks.claimDue(T0 + 5, T0 + 60_000, 10)).toEqual([]);
      expect((await store.webhooks.claimDue(T0 + 60_000, T0 + 99_999, 1)).length).toBe(1);
    });

    it('records attempts: retry, delivered, dead', async () => {
      await store.webhooks.cursor('ep_1', T0);
      await store.webhooks.fanOut(
        'ep_1',
        null,
        'evt_2',
        [delivery({ id: 'whd_1' }), delivery({ id: 'whd_2', eventId: 'evt_2' })],
        T0,
      );
      expect(
        await store.webhooks.recordAttempt('whd_1', {
          kind: 'retry',
          at: T0 + 1,
          status: 500,
          error: 'HTTP 500',
          nextAttemptAt: T0 + 10,
        }),
      ).toMatchObject({
        status: 'pending',
        attempts: 1,
        lastStatus: 500,
        lastError: 'HTTP 500',
        nextAttemptAt: T0 + 10,
        lastAttemptAt: T0 + 1,
      });
      expect(
        await store.webhooks.recordAttempt('whd_1', {
          kind: 'delivered',
          at: T0 + 11,
          status: 204,
        }),
      ).toMatchObject({
        status: 'delivered',
        attempts: 2,
        deliveredAt: T0 + 11,
        lastStatus: 204,
        lastError: null,
        nextAttemptAt: null,
      });
      expect(
        await store.webhooks.recordAttempt('whd_2', {
          kind: 'dead',
          at: T0 + 2,
          status: null,
          error: 'connection refused',
        }),
      ).toMatchObject({ status: 'dead', attempts: 1, nextAttemptAt: null, lastStatus: null });
      expect(
        await store.webhooks.recordAttempt('whd_x', { kind: 'delivered', at: T0, status: 200 }),
      ).toBeUndefined();
    });

    it('redelivers: pending again, due now, attempts counted afresh', async () => {
      await store.webhooks.cursor('ep_1', T0);
      await store.webhooks.fanOut('ep_1', null, 'evt_1', [delivery()], T0);
      await store.webhooks.recordAttempt('whd_1', {
        kind: 'dead',
        at: T0 + 1,
        status: 410,
        error: 'HTTP 410',
      });
      expect(await store.webhooks.redeliver('whd_1', T0 + 50)).toMatchObject({
        status: 'pending',
        attempts: 0,
        nextAttemptAt: T0 + 50,
        redeliveries: 1,
        lastError: 'HTTP 410',
      });
      expect(await store.webhooks.redeliver('whd_x', T0)).toBeUndefined();
    });

    it('lists newest first with filters', async () => {
      await store.webhooks.cursor('ep_1', T0);
      await store.webhooks.fanOut(
        'ep_1',
        null,
        'evt_3',
        [
          delivery({ id: 'whd_1', eventId: 'evt_1' }),
          delivery({
            id: 'whd_2',
            eventId: 'evt_2',
            createdAt: T0 + 1,
            eventType: 'sync.completed',
            connectionId: 'con_2',
          }),
          delivery({ id: 'whd_3', eventId: 'evt_3', createdAt: T0 + 2 }),
        ],
        T0,
      );
      await store.webhooks.recordAttempt('whd_3', {
        kind: 'dead',
        at: T0,
        status: 500,
        error: 'x',
      });
      const ids = (rows: DeliveryRecord[]) => rows.map((r) => r.id);
      expect(ids(await store.webhooks.list({ limit: 10 }))).toEqual(['whd_3', 'whd_2', 'whd_1']);
      expect(ids(await store.webhooks.list({ status: 'pending', limit: 10 }))).toEqual([
        'whd_2',
        'whd_1',
      ]);
      expect(ids(await store.webhooks.list({ eventType: 'sync.completed', limit: 10 }))).toEqual([
        'whd_2',
      ]);
      expect(
        ids(await store.webhooks.list({ connectionId: 'con_1', limit: 1, offset: 1 })),
      ).toEqual(['whd_1']);
    });

    it('appends an event once per key', async () => {
      const e = event({ id: 'evt_once', type: 'connection.expiring' });
      expect(await store.webhooks.appendEventOnce('expiring:con_1:1', e)).toBe(true);
      expect(
        await store.webhooks.appendEventOnce('expiring:con_1:1', event({ id: 'evt_again' })),
      ).toBe(false);
      expect(
        await store.webhooks.appendEventOnce('expiring:con_1:2', event({ id: 'evt_next' })),
      ).toBe(true);
      expect((await store.events.list({ limit: 10 })).map((x) => x.id)).toEqual([
        'evt_once',
        'evt_next',
      ]);
      expect((await store.events.list({ limit: 1 }))[0]).toEqual(e);
    });

    it('keeps endpoints made over the API, oldest first, with their filters as given', async () => {
      const a = endpoint({ id: 'wep_a', description: 'CRM', events: ['connection.*'] });
      const b = endpoint({ id: 'wep_b', url: 'https://other.example/in', createdAt: T0 + 1 });
      await store.webhooks.endpoints.insert(b);
      await store.webhooks.endpoints.insert(a);
      expect(await store.webhooks.endpoints.get('wep_a')).toEqual(a);
      expect(await store.webhooks.endpoints.get('wep_none')).toBeUndefined();
      expect((await store.webhooks.endpoints.list()).map((e) => e.id)).toEqual(['wep_a', 'wep_b']);
      await expect(store.webhooks.endpoints.insert(a)).rejects.toMatchObject({ code: 'conflict' });
    });

    it('updates only the fields given, and deletes', async () => {
      await store.webhooks.endpoints.insert(endpoint({ description: 'CRM', events: ['sync.*'] }));
      const moved = await store.webhooks.endpoints.update('wep_1', {
        url: 'https://app.example/v2',
        updatedAt: T0 + 5,
      });
      expect(moved).toEqual(
        endpoint({
          url: 'https://app.example/v2',
          description: 'CRM',
          events: ['sync.*'],
          updatedAt: T0 + 5,
        }),
      );
      const cleared = await store.webhooks.endpoints.update('wep_1', {
        description: null,
        events: null,
        updatedAt: T0 + 6,
      });
      expect(cleared).toMatchObject({
        url: 'https://app.example/v2',
        description: null,
        events: null,
      });
      expect(await store.webhooks.endpoints.get('wep_1')).toEqual(cleared);
      expect(
        await store.webhooks.endpoints.update('wep_none', {
          url: 'https://x.example',
          updatedAt: T0,
        }),
      ).toBeUndefined();
      expect(await store.webhooks.endpoints.delete('wep_1')).toBe(true);
      expect(await store.webhooks.endpoints.delete('wep_1')).toBe(false);
      expect(await store.webhooks.endpoints.list()).toEqual([]);
    });
  });
}
