// The refresh lease and the compare-and-set writes around it, on a real SQLite store file, with
// another process played by hooks that write to the same rows in between.
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenKeeper } from './refresh.ts';
import { sealTokens } from './token-set.ts';
import { tokenAnswer, type VaultFixture, vaultFixture } from './vault.test-helper.ts';

const ID = 'con_leasetest01';
const MINUTE = 60_000;
let f: VaultFixture;

afterEach(() => f.close());

/** What another process's finished refresh leaves in the row: its tokens, a new version. */
async function refreshedElsewhere(n: number): Promise<void> {
  const row = await f.store.connections.get(ID);
  const applied = await f.store.connections.update(
    ID,
    {
      sealedTokens: sealTokens(f.deps.sealer, ID, {
        accessToken: `at-${n}`,
        refreshToken: `rt-${n}`,
        expiresAt: f.clock.now() + 60 * MINUTE,
      }),
      accessExpiresAt: f.clock.now() + 60 * MINUTE,
      accessIssuedAt: f.clock.now(),
      refreshLeaseUntil: null,
      tokenVersion: row!.tokenVersion + 1,
    },
    row!.tokenVersion,
  );
  expect(applied).toBe(true);
}

describe('waiting for another process holding the refresh lease', () => {
  it('waits out the lease and uses the tokens the other process stored, without a call of its own', async () => {
    f = await vaultFixture(() => tokenAnswer(1));
    await f.insertActive(ID, {
      accessExpiresAt: f.clock.now() + MINUTE,
      refreshLeaseUntil: f.clock.now() + 10_000,
    });
    f.duringSleep.hook = async (count) => {
      if (count === 3) await refreshedElsewhere(9);
    };
    const record = await createTokenKeeper(f.deps).refresh(ID);
    expect(f.sleeps).toEqual([500, 500, 500]);
    expect(f.tokenCalls).toEqual([]);
    expect(record.accessExpiresAt).toBe(f.clock.now() + 60 * MINUTE);
    expect(await f.tokensOf(ID)).toMatchObject({ accessToken: 'at-9', refreshToken: 'rt-9' });
  });

  it('gives up after 240 waits when the other process holds the lease too long, never calling the EHR', async () => {
    f = await vaultFixture(() => tokenAnswer(1));
    await f.insertActive(ID, { refreshLeaseUntil: f.clock.now() + 24 * 60 * MINUTE });
    await expect(createTokenKeeper(f.deps).refresh(ID, { force: true })).rejects.toMatchObject({
      code: 'upstream_error',
      message: `connection ${ID}: another process holds the refresh too long`,
    });
    expect(f.sleeps).toHaveLength(240);
    expect(f.tokenCalls).toEqual([]);
    expect(await f.tokensOf(ID)).toMatchObject({ refreshToken: 'rt-0' });
  });
});

describe('compare-and-set around the refresh', () => {
  it('loses the lease claim to a refresh made elsewhere while it waited for the budget, and uses that one', async () => {
    f = await vaultFixture(() => tokenAnswer(1));
    await f.insertActive(ID);
    let grants = 0;
    f.beforeBudget.hook = async () => {
      if (++grants === 1) await refreshedElsewhere(5);
    };
    const record = await createTokenKeeper(f.deps).refresh(ID, {
      force: true,
      staleAccessToken: 'at-0',
    });
    // Had the claim ignored the version, rt-0 (already rotated away) would have been sent.
    expect(f.tokenCalls).toEqual([]);
    expect(record.tokenVersion).toBe(2);
    expect(await f.tokensOf(ID)).toMatchObject({ accessToken: 'at-5', refreshToken: 'rt-5' });
  });

  it('ends in conflict when its lease is taken over during the token call, leaving the other tokens in place', async () => {
    f = await vaultFixture(async () => {
      await refreshedElsewhere(8);
      return tokenAnswer(1);
    });
    await f.insertActive(ID);
    await expect(createTokenKeeper(f.deps).refresh(ID, { force: true })).rejects.toMatchObject({
      code: 'conflict',
    });
    expect(f.tokenCalls.map((body) => body.get('refresh_token'))).toEqual(['rt-0']);
    expect(await f.tokensOf(ID)).toMatchObject({ accessToken: 'at-8', refreshToken: 'rt-8' });
    expect(await f.store.connections.get(ID)).toMatchObject({ sealedRefreshAnswer: null });
  });

  it('does not end a grant another process changed meanwhile: it reports the state the row is in now', async () => {
    f = await vaultFixture(() => tokenAnswer(1));
    await f.insertActive(ID, { refreshExpiresAt: f.clock.now() - 1 });
    const update = f.store.connections.update.bind(f.store.connections);
    f.store.connections.update = async (id, patch, expected) => {
      if (patch.state === 'expired') {
        // The patient disconnected in another process just before this one wrote "expired".
        await update(id, { state: 'revoked', stateReason: 'disconnected', tokenVersion: 2 }, 1);
      }
      return update(id, patch, expected);
    };
    await expect(createTokenKeeper(f.deps).refresh(ID, { force: true })).rejects.toMatchObject({
      code: 'revoked',
      message: `connection ${ID} is revoked (disconnected)`,
    });
    expect(await f.store.connections.get(ID)).toMatchObject({ state: 'revoked', tokenVersion: 2 });
    const events = await f.store.events.list({ connectionId: ID, limit: 10 });
    expect(events.map((e) => e.type)).toEqual([]);
  });
});
