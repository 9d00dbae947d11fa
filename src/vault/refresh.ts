// Keeping a connection's access token usable: refresh before it lapses and on demand (after an
// upstream 401), one refresh at a time per connection, across processes too.
//
// Why the care: healow's refresh tokens are single-use. Two refreshes with the same refresh token
// mean the second gets invalid_grant, which would look like a revocation. So:
//   1. in this process, concurrent callers share one refresh (the in-flight map);
//   2. across processes, a lease is claimed by compare-and-set on tokenVersion before the token
//      call, and others wait for it to end instead of calling too;
//   3. the rotated refresh token is written in the same row update that retires the old one,
//      before the new access token is handed to anyone; when none is returned the old one stays.
import { BridgeError } from '../common/errors.ts';
import { isRevocation, refreshTokens } from '../smart/index.ts';
import type { ConnectionRecord } from '../store/port.ts';
import { clientAuthFor } from './client-auth.ts';
import type { VaultDeps } from './deps.ts';
import { openTokens, sealTokens } from './token-set.ts';

export interface RefreshOptions {
  /** Refresh even when the access token is not near its end (an upstream 401). */
  force?: boolean;
  /** With force: the tokenVersion whose access token failed; a newer one is used as is. */
  staleVersion?: number;
}

const MAX_LEASE_WAITS = 120;

export function createTokenKeeper(deps: VaultDeps) {
  const { store, sealer, clock, events, logger } = deps;
  const leewayMs = deps.refreshLeewayMs ?? 5 * 60_000;
  const leaseMs = deps.refreshLeaseMs ?? 60_000;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const inFlight = new Map<string, Promise<ConnectionRecord>>();

  async function load(id: string): Promise<ConnectionRecord> {
    const record = await store.connections.get(id);
    if (!record) throw new BridgeError('not_found', `unknown connection "${id}"`);
    return record;
  }

  function assertUsable(record: ConnectionRecord): void {
    if (record.state === 'active' && record.sealedTokens) return;
    const code =
      record.state === 'revoked'
        ? 'revoked'
        : record.state === 'expired'
          ? 'expired'
          : 'invalid_state';
    throw new BridgeError(
      code,
      `connection ${record.id} is ${record.state}${record.stateReason ? ` (${record.stateReason})` : ''}`,
    );
  }

  async function transition(
    record: ConnectionRecord,
    state: 'revoked' | 'expired',
    reason: string,
    expectedVersion: number,
  ): Promise<never> {
    const applied = await store.connections.update(
      record.id,
      {
        state,
        stateReason: reason,
        refreshLeaseUntil: null,
        tokenVersion: expectedVersion + 1,
        updatedAt: clock.now(),
      },
      expectedVersion,
    );
    if (applied) await events.emit(`connection.${state}`, record.id, { reason });
    throw new BridgeError(state, `connection ${record.id} is ${state} (${reason})`);
  }

  async function refreshOnce(id: string, options: RefreshOptions): Promise<ConnectionRecord> {
    for (let waits = 0; ; ) {
      const record = await load(id);
      assertUsable(record);
      const now = clock.now();
      if (options.force) {
        if (
          options.staleVersion !== undefined &&
          record.tokenVersion !== options.staleVersion &&
          !isLeased(record, now)
        ) {
          return record; // somebody refreshed since the failing token was handed out
        }
      } else if ((record.accessExpiresAt ?? 0) - leewayMs > now) {
        return record;
      }
      if (isLeased(record, now)) {
        if (++waits > MAX_LEASE_WAITS)
          throw new BridgeError(
            'upstream_error',
            `connection ${id}: another process holds the refresh too long`,
          );
        await sleep(Math.min(500, record.refreshLeaseUntil! - now));
        continue;
      }
      const tokens = openTokens(sealer, id, record.sealedTokens!);
      if (!tokens.refreshToken) {
        if ((record.accessExpiresAt ?? 0) > now) return record;
        return transition(
          record,
          'expired',
          'the access token lapsed and there is no refresh token',
          record.tokenVersion,
        );
      }
      if (record.refreshExpiresAt !== null && record.refreshExpiresAt <= now) {
        return transition(
          record,
          'expired',
          'the refresh token reached the end of its life',
          record.tokenVersion,
        );
      }
      // Claim the lease: only one process gets past this compare-and-set.
      const leased = record.tokenVersion + 1;
      const claimed = await store.connections.update(
        id,
        { refreshLeaseUntil: now + leaseMs, tokenVersion: leased },
        record.tokenVersion,
      );
      if (!claimed) continue;
      return await refreshWithLease({ ...record, tokenVersion: leased }, tokens);
    }
  }

  async function refreshWithLease(
    record: ConnectionRecord,
    tokens: ReturnType<typeof openTokens>,
  ): Promise<ConnectionRecord> {
    const registration = deps.registrations[record.registration];
    if (!registration)
      throw new BridgeError(
        'invalid_config',
        `registration "${record.registration}" is not configured`,
      );
    let next: Awaited<ReturnType<typeof refreshTokens>>;
    try {
      const config = await deps.discovery.discover(record.practiceBase);
      const auth = await clientAuthFor(record.registration, registration, deps.keys);
      await deps.budget.acquire(record.practiceBase, {
        priority: 'refresh',
        connectionId: record.id,
      });
      next = await refreshTokens({
        tokenEndpoint: config.token_endpoint,
        auth,
        clock,
        fetch: deps.fetch,
        refreshToken: tokens.refreshToken!,
      });
    } catch (error) {
      if (isRevocation(error)) {
        return transition(
          record,
          'revoked',
          'the EHR refused the refresh token (consent revoked)',
          record.tokenVersion,
        );
      }
      // Anything else (network, 5xx, budget): release the lease, keep the connection as it was.
      await store.connections.update(record.id, { refreshLeaseUntil: null }, record.tokenVersion);
      throw error;
    }
    const now = clock.now();
    const patch = {
      sealedTokens: sealTokens(sealer, record.id, {
        accessToken: next.accessToken,
        // Single-use rotation (healow) hands a new one; Cerner-style servers return none: keep ours.
        refreshToken: next.refreshToken ?? tokens.refreshToken,
        idToken: next.idToken ?? tokens.idToken,
        expiresAt: next.expiresAt,
      }),
      accessExpiresAt: next.expiresAt,
      grantedScopes: next.scope ?? record.grantedScopes,
      tokenVersion: record.tokenVersion + 1,
      refreshLeaseUntil: null,
      updatedAt: now,
    };
    if (!(await store.connections.update(record.id, patch, record.tokenVersion))) {
      // Our lease was taken over (we outlived it): the new refresh token is lost to us, and
      // saying so loudly is better than pretending. The next refresh will tell revoked or not.
      logger.error(
        { connectionId: record.id },
        'refresh lease lost before the rotated token was stored',
      );
      throw new BridgeError('conflict', `connection ${record.id}: refresh lease lost, try again`);
    }
    logger.info(
      { connectionId: record.id, rotated: Boolean(next.refreshToken) },
      'tokens refreshed',
    );
    return { ...record, ...patch };
  }

  /** Refreshes when due (or forced); concurrent callers in this process share one refresh. */
  function refresh(id: string, options: RefreshOptions = {}): Promise<ConnectionRecord> {
    const running = inFlight.get(id);
    if (running) return running;
    const task = refreshOnce(id, options).finally(() => inFlight.delete(id));
    inFlight.set(id, task);
    return task;
  }

  /** A usable access token and the tokenVersion it belongs to (pass it back with a forced refresh). */
  async function accessToken(
    id: string,
  ): Promise<{ accessToken: string; version: number; record: ConnectionRecord }> {
    let record = await load(id);
    assertUsable(record);
    if ((record.accessExpiresAt ?? 0) - leewayMs <= clock.now()) {
      try {
        record = await refresh(id);
      } catch (error) {
        // A refresh that failed for a passing reason (network, 5xx, budget) need not fail a call
        // while the current access token still works.
        const passing = !(
          error instanceof BridgeError && ['revoked', 'expired'].includes(error.code)
        );
        if (!passing || (record.accessExpiresAt ?? 0) <= clock.now()) throw error;
        logger.warn(
          { connectionId: id, err: error },
          'early refresh failed; using the current access token',
        );
      }
    }
    const tokens = openTokens(sealer, id, record.sealedTokens!);
    return { accessToken: tokens.accessToken, version: record.tokenVersion, record };
  }

  return { refresh, accessToken };
}

function isLeased(record: ConnectionRecord, now: number): boolean {
  return record.refreshLeaseUntil !== null && record.refreshLeaseUntil > now;
}
