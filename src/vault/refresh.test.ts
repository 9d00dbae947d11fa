import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { createLogger } from '../common/logger.ts';
import { createSealer } from '../common/seal.ts';
import { createEventLog } from '../events/log.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import type { VaultDeps } from './deps.ts';
import { createTokenKeeper, refreshLeeway } from './refresh.ts';
import { openTokens } from './token-set.ts';
import { activeConnection } from './vault.test-helper.ts';

const MINUTE = 60_000;

describe('refreshLeeway', () => {
  it('is the configured leeway for a token that lives much longer (healow: one hour)', () => {
    expect(refreshLeeway(5 * MINUTE, { accessIssuedAt: 0, accessExpiresAt: 60 * MINUTE })).toBe(
      5 * MINUTE,
    );
  });

  it('is half the lifetime of a short token (60 s → 30 s)', () => {
    expect(refreshLeeway(5 * MINUTE, { accessIssuedAt: 1_000, accessExpiresAt: 61_000 })).toBe(
      30_000,
    );
  });

  it('is the configured leeway when the issue time is unknown (tokens stored before it was kept)', () => {
    expect(refreshLeeway(5 * MINUTE, { accessIssuedAt: null, accessExpiresAt: 61_000 })).toBe(
      5 * MINUTE,
    );
    expect(refreshLeeway(5 * MINUTE, { accessExpiresAt: 61_000 })).toBe(5 * MINUTE);
  });

  it('is never negative (a token issued already expired)', () => {
    expect(refreshLeeway(5 * MINUTE, { accessIssuedAt: 10_000, accessExpiresAt: 5_000 })).toBe(0);
  });
});

// The refresh's durability order, against a real (in-memory) store and a scripted token endpoint.
describe('a refresh and its answer', () => {
  const TOKEN_ENDPOINT = 'https://ehr.example/oauth/token';
  const ID = 'con_refreshtest01';
  const answer = (n: number) =>
    JSON.stringify({
      access_token: `at-${n}`,
      token_type: 'Bearer',
      expires_in: 3600,
      refresh_token: `rt-${n}`,
    });

  async function fixture(tokenEndpoint: (body: URLSearchParams) => Response) {
    const clock = new ManualClock();
    const store = await openSqliteStore({ path: ':memory:' });
    const sealer = createSealer([{ id: 'k1', key: Buffer.alloc(32, 7) }]);
    const calls: string[] = [];
    const patches: string[][] = [];
    const update = store.connections.update.bind(store.connections);
    store.connections.update = (id, patch, expected) => {
      patches.push(Object.keys(patch).sort());
      return update(id, patch, expected);
    };
    const fetchStub = (async (_url: string, init: RequestInit) => {
      const body = init.body as URLSearchParams;
      calls.push(body.get('refresh_token') ?? '');
      // What is on disk while the EHR works: the attempt (an earlier lost one keeps its time),
      // under our lease.
      const row = await store.connections.get(ID);
      expect(row?.refreshAttemptAt).toBeLessThanOrEqual(clock.now());
      expect(row?.refreshLeaseUntil).toBeGreaterThan(clock.now());
      return tokenEndpoint(body);
    }) as unknown as typeof fetch;
    const keeper = createTokenKeeper({
      store,
      sealer,
      clock,
      logger: createLogger({ level: 'silent' }),
      keys: {} as VaultDeps['keys'],
      discovery: {
        discover: async () => ({
          authorization_endpoint: 'https://ehr.example/oauth/authorize',
          token_endpoint: TOKEN_ENDPOINT,
        }),
      } as unknown as VaultDeps['discovery'],
      idTokens: {} as VaultDeps['idTokens'],
      practices: {} as VaultDeps['practices'],
      registrations: {
        r1: { clientType: 'public', clientId: 'app', authorizationServers: [] },
      } as unknown as VaultDeps['registrations'],
      events: createEventLog({ store, clock, logger: createLogger({ level: 'silent' }) }),
      budget: {
        acquire: async () => {},
        landed: async () => {},
        unsent: async () => {},
      } as unknown as VaultDeps['budget'],
      publicUrl: 'https://bridge.example',
      fetch: fetchStub,
    });
    await store.connections.insert(activeConnection(sealer, ID, clock.now(), { userRef: 'u1' }));
    const tokens = async () => {
      const row = await store.connections.get(ID);
      return openTokens(sealer, ID, row!.sealedTokens!);
    };
    return { clock, store, sealer, keeper, calls, patches, tokens };
  }

  it('records the attempt before the call, and stores the answer before using it', async () => {
    const f = await fixture(() => new Response(answer(1), { status: 200 }));
    await f.keeper.refresh(ID, { force: true });
    expect(f.calls).toEqual(['rt-0']);
    expect(f.patches).toEqual([
      ['refreshAttemptAt', 'refreshLeaseUntil', 'tokenVersion'],
      ['sealedRefreshAnswer'],
      [
        'accessExpiresAt',
        'accessIssuedAt',
        'grantedScopes',
        'refreshAttemptAt',
        'refreshLeaseUntil',
        'sealedRefreshAnswer',
        'sealedTokens',
        'tokenVersion',
        'updatedAt',
      ],
    ]);
    const row = await f.store.connections.get(ID);
    expect(row).toMatchObject({ refreshAttemptAt: null, sealedRefreshAnswer: null });
    expect(await f.tokens()).toMatchObject({ accessToken: 'at-1', refreshToken: 'rt-1' });
  });

  it('unseals the stored access token once for many calls, and answers a refreshed one at once', async () => {
    const f = await fixture(() => new Response(answer(1), { status: 200 }));
    const open = f.sealer.open.bind(f.sealer);
    let opens = 0;
    f.sealer.open = (sealed, context) => {
      opens++;
      return open(sealed, context);
    };
    for (let i = 0; i < 3; i++) expect((await f.keeper.accessToken(ID)).accessToken).toBe('at-0');
    expect(opens).toBe(1);
    await f.keeper.refresh(ID, { force: true });
    expect((await f.keeper.accessToken(ID)).accessToken).toBe('at-1');
  });

  it('applies an answer a dead process stored but never used, without calling the EHR again', async () => {
    const f = await fixture(() => new Response('{"error":"invalid_grant"}', { status: 400 }));
    const attemptAt = f.clock.now();
    await f.store.connections.update(ID, {
      refreshAttemptAt: attemptAt,
      sealedRefreshAnswer: f.sealer.seal(answer(7), `refresh-answer:${ID}`),
    });
    f.clock.advance(90_000);
    const record = await f.keeper.refresh(ID, { force: true });
    expect(f.calls).toEqual([]);
    expect(record.state).toBe('active');
    // Its hour counts from the call that got it, not from now.
    expect(record.accessExpiresAt).toBe(attemptAt + 3_600_000);
    expect(await f.tokens()).toMatchObject({ accessToken: 'at-7', refreshToken: 'rt-7' });
    expect(await f.store.connections.get(ID)).toMatchObject({
      refreshAttemptAt: null,
      sealedRefreshAnswer: null,
    });
  });

  it('drops a stored answer that cannot be read, keeps the attempt: the refusal that follows is reauthorization_required', async () => {
    const f = await fixture(() => new Response('{"error":"invalid_grant"}', { status: 400 }));
    await f.store.connections.update(ID, {
      refreshAttemptAt: f.clock.now(),
      sealedRefreshAnswer: f.sealer.seal('{"access_tok', `refresh-answer:${ID}`),
    });
    f.clock.advance(1_000);
    await expect(f.keeper.refresh(ID, { force: true })).rejects.toMatchObject({
      code: 'reauthorization_required',
    });
    expect(f.calls).toEqual(['rt-0']);
    const events = await f.store.events.list({ connectionId: ID, limit: 10 });
    expect(events.map((e) => [e.type, e.data.reconnectUrl])).toEqual([
      [
        'connection.reauthorization_required',
        `https://bridge.example/api/connections/${ID}/reconnect`,
      ],
    ]);
  });
});
