// Keeping a connection's access token usable: refresh before it lapses and on demand (after an
// upstream 401), one refresh at a time per connection, across processes too.
//
// Why the care: healow's refresh tokens are single-use. Two refreshes with the same refresh token
// mean the second gets invalid_grant, which would look like a revocation. So:
//   1. in this process, concurrent callers share one refresh (the in-flight map);
//   2. across processes, a lease is claimed by compare-and-set on tokenVersion right before the
//      token call (discovery and the budget wait come first, so the lease covers only the call,
//      whose timeout is well under the lease), and others wait for it to end instead of calling;
//   3. the rotated refresh token is written in the same row update that retires the old one,
//      before the new access token is handed to anyone; when none is returned the old one stays.
import { BridgeError } from '../common/errors.ts';
import { isRevocation, refreshTokens } from '../smart/index.ts';
import type { ConnectionRecord } from '../store/port.ts';
import { assertAuthorizationServer, clientAuthFor } from './client-auth.ts';
import type { VaultDeps } from './deps.ts';
import { openTokens, type StoredTokens, sealTokens } from './token-set.ts';

export interface RefreshOptions {
  /** Refresh even when the access token is not near its end (an upstream 401). */
  force?: boolean;
  /** With force: the access token that failed; when the stored one differs, it is used as is. */
  staleAccessToken?: string;
}

const MAX_LEASE_WAITS = 240;
/** The token call's own timeout; the lease outlives it with room to store the answer. */
const TOKEN_CALL_TIMEOUT_MS = 30_000;
const STORE_ATTEMPTS = 3;

export function createTokenKeeper(deps: VaultDeps) {
  const { store, sealer, clock, events, logger } = deps;
  const leewayMs = deps.refreshLeewayMs ?? 5 * 60_000;
  const leaseMs = Math.max(deps.refreshLeaseMs ?? 60_000, TOKEN_CALL_TIMEOUT_MS + 15_000);
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

  /** Moves to revoked/expired if the row is still at `expectedVersion`; otherwise says what it is now. */
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
    if (!applied) {
      // Somebody else changed the connection meanwhile (a reconnect, another refresh): report
      // what it is now rather than a state we did not set.
      assertUsable(await load(record.id));
      throw new BridgeError(
        'conflict',
        `connection ${record.id} changed during the refresh, try again`,
      );
    }
    await events.emit(`connection.${state}`, record.id, { reason });
    throw new BridgeError(state, `connection ${record.id} is ${state} (${reason})`);
  }

  /** Whether the stored tokens already answer the caller: fresh enough, or newer than the failed one. */
  function satisfied(
    record: ConnectionRecord,
    tokens: StoredTokens,
    options: RefreshOptions,
    now: number,
  ): boolean {
    if (!options.force) return (record.accessExpiresAt ?? 0) - leewayMs > now;
    return (
      options.staleAccessToken !== undefined && tokens.accessToken !== options.staleAccessToken
    );
  }

  async function refreshOnce(id: string, options: RefreshOptions): Promise<ConnectionRecord> {
    for (let waits = 0; ; ) {
      const record = await load(id);
      assertUsable(record);
      const now = clock.now();
      if (isLeased(record, now)) {
        if (++waits > MAX_LEASE_WAITS) {
          throw new BridgeError(
            'upstream_error',
            `connection ${id}: another process holds the refresh too long`,
          );
        }
        await sleep(Math.min(500, record.refreshLeaseUntil! - now));
        continue;
      }
      const tokens = openTokens(sealer, id, record.sealedTokens!);
      if (satisfied(record, tokens, options, now)) return record;
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

      // Everything that may wait comes before the lease: the lease covers the token call only.
      const registration = deps.registrations[record.registration];
      if (!registration)
        throw new BridgeError(
          'invalid_config',
          `registration "${record.registration}" is not configured`,
        );
      const config = await deps.discovery.discover(record.practiceBase);
      assertAuthorizationServer(record.registration, registration, config);
      const auth = await clientAuthFor(record.registration, registration, deps.keys);
      await deps.budget.acquire(record.practiceBase, {
        priority: 'refresh',
        connectionId: record.id,
      });

      // Claim the lease: only one process gets past this compare-and-set. Had the row moved
      // while we waited for the budget, start over and look again.
      const leased = { ...record, tokenVersion: record.tokenVersion + 1 };
      const claimed = await store.connections.update(
        id,
        { refreshLeaseUntil: clock.now() + leaseMs, tokenVersion: leased.tokenVersion },
        record.tokenVersion,
      );
      if (!claimed) continue;

      let next: Awaited<ReturnType<typeof refreshTokens>>;
      try {
        next = await refreshTokens({
          tokenEndpoint: config.token_endpoint,
          auth,
          clock,
          fetch: deps.fetch,
          refreshToken: tokens.refreshToken,
          timeoutMs: TOKEN_CALL_TIMEOUT_MS,
        });
      } catch (error) {
        if (isRevocation(error)) {
          return transition(
            leased,
            'revoked',
            'the EHR refused the refresh token (consent revoked)',
            leased.tokenVersion,
          );
        }
        // Anything else (network, 5xx): release the lease, keep the connection as it was.
        await store.connections.update(id, { refreshLeaseUntil: null }, leased.tokenVersion);
        throw error;
      }
      return storeRefreshed(leased, tokens, next);
    }
  }

  /** Stores the answer of a token call made under our lease: the rotated refresh token first of all. */
  async function storeRefreshed(
    record: ConnectionRecord,
    tokens: StoredTokens,
    next: Awaited<ReturnType<typeof refreshTokens>>,
  ): Promise<ConnectionRecord> {
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
      updatedAt: clock.now(),
    };
    // The new refresh token exists only in this process until this write lands: a passing store
    // error (a busy database) must not lose it, so try again before giving up.
    for (let attempt = 1; ; attempt++) {
      try {
        if (await store.connections.update(record.id, patch, record.tokenVersion)) break;
        // Our lease was taken over (we outlived it): say so loudly rather than pretend.
        logger.error(
          { connectionId: record.id },
          'refresh lease lost before the rotated token was stored',
        );
        throw new BridgeError('conflict', `connection ${record.id}: refresh lease lost, try again`);
      } catch (error) {
        if (error instanceof BridgeError || attempt >= STORE_ATTEMPTS) throw error;
        logger.warn(
          { connectionId: record.id, err: error, attempt },
          'storing refreshed tokens failed; retrying',
        );
        await sleep(100 * attempt);
      }
    }
    logger.info(
      { connectionId: record.id, rotated: Boolean(next.refreshToken) },
      'tokens refreshed',
    );
    return { ...record, ...patch };
  }

  /** Refreshes when due (or forced); concurrent callers of the same kind share one refresh. */
  function refresh(id: string, options: RefreshOptions = {}): Promise<ConnectionRecord> {
    const key = `${id}:${options.force ? 'force' : 'due'}`;
    const running = inFlight.get(key);
    if (running) return running;
    const task = refreshOnce(id, options).finally(() => inFlight.delete(key));
    inFlight.set(key, task);
    return task;
  }

  /** A usable access token (refreshed first when due). */
  async function accessToken(
    id: string,
  ): Promise<{ accessToken: string; record: ConnectionRecord }> {
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
    return { accessToken: tokens.accessToken, record };
  }

  return { refresh, accessToken };
}

function isLeased(record: ConnectionRecord, now: number): boolean {
  return record.refreshLeaseUntil !== null && record.refreshLeaseUntil > now;
}
