// Keeping a connection's access token usable: refresh before it lapses and on demand (after an
// upstream 401), one refresh at a time per connection, across processes too.
//
// Why the care: healow's refresh tokens are single-use. Two refreshes with the same refresh token
// mean the second gets invalid_grant, which would look like a revocation. So:
//   1. in this process, concurrent callers share one refresh (the in-flight map);
//   2. across processes, a lease is claimed by compare-and-set on tokenVersion right before the
//      token call (discovery and the budget wait come first, so the lease covers only the call,
//      whose timeout is well under the lease), and others wait for it to end instead of calling;
//   3. the attempt is written in that same compare-and-set (`refreshAttemptAt`), so it is on disk
//      before the EHR can rotate anything; a successful answer is stored, sealed, as soon as it is
//      read, and its tokens in the row update that clears the attempt;
//   4. an answer that never arrived whole (process killed, socket dropped, timeout, truncated
//      body) leaves the attempt behind: if the EHR then refuses the refresh token, it may have
//      rotated it for the answer we lost, so the connection needs the patient again
//      (`reauthorization_required`), and is not called `revoked`.
import type { Grant } from '../budget/port.ts';
import { BridgeError } from '../common/errors.ts';
import type { Sealer } from '../common/seal.ts';
import {
  type ClientAuthentication,
  isRevocation,
  processTokenResponse,
  refreshTokenGrantRequest,
  type TokenSet,
} from '../smart/index.ts';
import type { ConnectionPatch, ConnectionRecord } from '../store/port.ts';
import { assertAuthorizationServer, clientAuthFor } from './client-auth.ts';
import type { VaultDeps } from './deps.ts';
import { connectionStateError } from './state-error.ts';
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
/** Connections whose unsealed access token is kept in memory at most. */
const UNSEALED_CACHE_SIZE = 10_000;

const answerContext = (connectionId: string) => `refresh-answer:${connectionId}`;

/**
 * How long before its end an access token is refreshed: the configured leeway, but at most half
 * the token's lifetime (as issued), so that 60-second tokens are not refreshed before every call.
 */
export function refreshLeeway(
  configuredMs: number,
  record: Pick<ConnectionRecord, 'accessIssuedAt' | 'accessExpiresAt'>,
): number {
  const { accessIssuedAt, accessExpiresAt } = record;
  if (accessIssuedAt === null || accessIssuedAt === undefined || accessExpiresAt === null) {
    return configuredMs;
  }
  return Math.max(0, Math.min(configuredMs, Math.floor((accessExpiresAt - accessIssuedAt) / 2)));
}

/** The states a refresh ends a connection in when the grant is gone. */
type EndState = 'revoked' | 'expired' | 'reauthorization_required';

/** What a token call needs, gathered before the lease. */
interface TokenCall {
  tokenEndpoint: string;
  auth: ClientAuthentication;
  /** The budget's slot for the call, told when the answer comes back. */
  grant: Grant;
}

/** A claimed refresh lease: the row as claimed, this attempt's time, and a lost one's before it. */
interface Lease {
  leased: ConnectionRecord;
  attemptAt: number;
  earlierAttemptAt: number | null;
}

export function createTokenKeeper(deps: VaultDeps) {
  const { store, sealer, clock, events, logger } = deps;
  const leewayMs = deps.refreshLeewayMs ?? 5 * 60_000;
  const leaseMs = Math.max(deps.refreshLeaseMs ?? 60_000, TOKEN_CALL_TIMEOUT_MS + 15_000);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const inFlight = new Map<string, Promise<ConnectionRecord>>();
  const unsealedAccessToken = createUnsealedCache(sealer);

  async function load(id: string): Promise<ConnectionRecord> {
    const record = await store.connections.get(id);
    if (!record) throw new BridgeError('not_found', `unknown connection "${id}"`);
    return record;
  }

  /** Ends the grant in `state` if the row is still at `expectedVersion`; otherwise says what it is now. */
  async function transition(
    record: ConnectionRecord,
    state: EndState,
    reason: string,
    expectedVersion: number,
  ): Promise<never> {
    const applied = await store.connections.update(
      record.id,
      {
        state,
        stateReason: reason,
        refreshLeaseUntil: null,
        refreshAttemptAt: null,
        sealedRefreshAnswer: null,
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
    // The app's way back: a new launch for the same user (POST .../reconnect answers its link).
    const data =
      state === 'reauthorization_required'
        ? { reason, reconnectUrl: `${deps.publicUrl}/api/connections/${record.id}/reconnect` }
        : { reason };
    await events.emit(`connection.${state}`, record.id, data);
    throw new BridgeError(state, `connection ${record.id} is ${state} (${reason})`);
  }

  /** Whether the stored tokens already answer the caller: fresh enough, or newer than the failed one. */
  function satisfied(
    record: ConnectionRecord,
    tokens: StoredTokens,
    options: RefreshOptions,
    now: number,
  ): boolean {
    if (!options.force) return !due(record, now);
    return (
      options.staleAccessToken !== undefined && tokens.accessToken !== options.staleAccessToken
    );
  }

  function due(record: ConnectionRecord, now: number): boolean {
    return (record.accessExpiresAt ?? 0) - refreshLeeway(leewayMs, record) <= now;
  }

  /**
   * Writes that must land (a rotated token exists only in this process until they do): a passing
   * store error (a busy database) is retried; a lost compare-and-set is a conflict.
   */
  async function mustWrite(
    id: string,
    patch: ConnectionPatch,
    expectedVersion: number,
    what: string,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (await store.connections.update(id, patch, expectedVersion)) return;
        // Our lease was taken over (we outlived it): say so loudly rather than pretend.
        logger.error({ connectionId: id }, `refresh lease lost before ${what} was stored`);
        throw new BridgeError('conflict', `connection ${id}: refresh lease lost, try again`);
      } catch (error) {
        if (error instanceof BridgeError || attempt >= STORE_ATTEMPTS) throw error;
        logger.warn({ connectionId: id, err: error, attempt }, `storing ${what} failed; retrying`);
        await sleep(100 * attempt);
      }
    }
  }

  /** Ends our lease without storing tokens; `patch` says what the attempt leaves behind. */
  async function release(record: ConnectionRecord, patch: ConnectionPatch): Promise<void> {
    await store.connections
      .update(record.id, { ...patch, refreshLeaseUntil: null }, record.tokenVersion)
      .catch((error: unknown) =>
        logger.error({ connectionId: record.id, err: error }, 'releasing the refresh lease failed'),
      );
  }

  async function refreshOnce(id: string, options: RefreshOptions): Promise<ConnectionRecord> {
    for (let waits = 0; ; ) {
      const record = await load(id);
      assertUsable(record);
      const now = clock.now();
      if (isLeased(record, now)) {
        await waitForLease(record, now, ++waits);
        continue;
      }
      const tokens = openTokens(sealer, id, record.sealedTokens!);
      // A process died between receiving an answer and storing its tokens: use that answer.
      if (record.sealedRefreshAnswer) {
        const recovered = await recoverAnswer(record, tokens);
        if (recovered) return recovered;
        continue;
      }
      if (satisfied(record, tokens, options, now)) return record;
      if (!tokens.refreshToken) return keepOrExpire(record, now);
      if (record.refreshExpiresAt !== null && record.refreshExpiresAt <= now) {
        return transition(
          record,
          'expired',
          'the refresh token reached the end of its life',
          record.tokenVersion,
        );
      }
      const call = await prepareTokenCall(record);
      const lease = await claimLease(record);
      if (!lease) {
        // The row moved while we waited for the budget (another process refreshed it): the slot
        // goes back unspent, and we start over and look again.
        void deps.budget.unsent(call.grant);
        continue;
      }
      return refreshUnderLease(lease, tokens, call);
    }
  }

  /** Another process holds the lease: wait for its end, or give up after MAX_LEASE_WAITS. */
  async function waitForLease(record: ConnectionRecord, now: number, waits: number): Promise<void> {
    if (waits > MAX_LEASE_WAITS) {
      throw new BridgeError(
        'upstream_error',
        `connection ${record.id}: another process holds the refresh too long`,
      );
    }
    await sleep(Math.min(500, record.refreshLeaseUntil! - now));
  }

  /** No refresh token: the access token serves until it lapses, then the connection is expired. */
  async function keepOrExpire(record: ConnectionRecord, now: number): Promise<ConnectionRecord> {
    if ((record.accessExpiresAt ?? 0) > now) return record;
    return transition(
      record,
      'expired',
      'the access token lapsed and there is no refresh token',
      record.tokenVersion,
    );
  }

  /**
   * Everything that may wait comes before the lease (discovery, the key, the budget): the lease
   * covers the token call only.
   */
  async function prepareTokenCall(record: ConnectionRecord): Promise<TokenCall> {
    const registration = deps.registrations[record.registration];
    if (!registration) {
      throw new BridgeError(
        'invalid_config',
        `registration "${record.registration}" is not configured`,
      );
    }
    const config = await deps.discovery.discover(record.practiceBase);
    assertAuthorizationServer(record.registration, registration, config);
    const auth = await clientAuthFor(record.registration, registration, deps.keys);
    const grant = await deps.budget.acquire(record.practiceBase, {
      priority: 'refresh',
      connectionId: record.id,
    });
    return { tokenEndpoint: config.token_endpoint, auth, grant };
  }

  /**
   * Claims the lease and records the attempt in one compare-and-set: only one process gets past
   * it, and the attempt is on disk before the EHR can rotate anything. An attempt already there
   * (its answer lost) keeps its time. Undefined when the row moved since it was read.
   */
  async function claimLease(record: ConnectionRecord): Promise<Lease | undefined> {
    const attemptAt = clock.now();
    const leased: ConnectionRecord = {
      ...record,
      tokenVersion: record.tokenVersion + 1,
      refreshLeaseUntil: attemptAt + leaseMs,
      refreshAttemptAt: record.refreshAttemptAt ?? attemptAt,
    };
    const claimed = await store.connections.update(
      record.id,
      {
        refreshLeaseUntil: leased.refreshLeaseUntil,
        refreshAttemptAt: leased.refreshAttemptAt,
        tokenVersion: leased.tokenVersion,
      },
      record.tokenVersion,
    );
    if (!claimed) return undefined;
    return { leased, attemptAt, earlierAttemptAt: record.refreshAttemptAt ?? null };
  }

  /** The token call under our lease, its answer kept before use, then stored or settled. */
  async function refreshUnderLease(
    lease: Lease,
    tokens: StoredTokens,
    call: TokenCall,
  ): Promise<ConnectionRecord> {
    const { leased } = lease;
    const { response, text, answeredAt } = await sendRefresh(leased, tokens.refreshToken!, call);
    void deps.budget.landed(call.grant, answeredAt);
    if (response.ok) {
      // Stored before anything else is done with it: from here a crash loses nothing.
      await mustWrite(
        leased.id,
        { sealedRefreshAnswer: sealer.seal(text, answerContext(leased.id)) },
        leased.tokenVersion,
        'the refresh answer',
      );
    }
    let next: TokenSet;
    try {
      next = await processTokenResponse(
        new Response(text, { status: response.status, headers: response.headers }),
        { clock },
      );
    } catch (error) {
      return settleRefusal(error, lease, response);
    }
    return storeRefreshed(leased, tokens, next, lease.attemptAt);
  }

  /**
   * Sends the refresh and reads the whole answer. No answer, or a part of one (dropped socket,
   * timeout): the EHR may have rotated the refresh token, so the attempt stays on record and the
   * connection stays as it was.
   */
  async function sendRefresh(
    leased: ConnectionRecord,
    refreshToken: string,
    call: TokenCall,
  ): Promise<{ response: Response; text: string; answeredAt: number }> {
    try {
      const response = await refreshTokenGrantRequest({
        tokenEndpoint: call.tokenEndpoint,
        auth: call.auth,
        clock,
        fetch: deps.fetch,
        refreshToken,
        timeoutMs: TOKEN_CALL_TIMEOUT_MS,
      });
      const answeredAt = clock.now();
      return { response, text: await response.text(), answeredAt };
    } catch (error) {
      logger.warn({ connectionId: leased.id, err: error }, 'refresh answer lost; attempt kept');
      await release(leased, {});
      throw error instanceof BridgeError
        ? error
        : new BridgeError('upstream_error', 'the token endpoint answer was cut off', {
            cause: error,
          });
    }
  }

  /** An answer that gives no tokens: the grant ends, or the lease is released and the error goes on. */
  async function settleRefusal(
    error: unknown,
    { leased, earlierAttemptAt }: Lease,
    response: Response,
  ): Promise<never> {
    if (isRevocation(error)) {
      // The same refusal means two things: with a lost answer before it, the EHR most likely
      // rotated the token for that answer (the grant may be alive); without, the grant is gone.
      return earlierAttemptAt !== null
        ? transition(
            leased,
            'reauthorization_required',
            'the EHR refused the refresh token after an earlier refresh answer was lost',
            leased.tokenVersion,
          )
        : transition(
            leased,
            'revoked',
            'the EHR refused the refresh token (consent revoked)',
            leased.tokenVersion,
          );
    }
    if (response.ok) {
      // A success we cannot read (truncated, malformed): the EHR has rotated. Keep the attempt.
      logger.warn(
        { connectionId: leased.id, status: response.status },
        'refresh answer unreadable; attempt kept',
      );
      await release(leased, { sealedRefreshAnswer: null });
    } else {
      // The EHR answered with an error (5xx, 429, ...): nothing was rotated by this attempt.
      await release(leased, { refreshAttemptAt: earlierAttemptAt });
    }
    throw error;
  }

  /** Finishes a refresh whose answer a previous process stored but did not get to apply. */
  async function recoverAnswer(
    record: ConnectionRecord,
    tokens: StoredTokens,
  ): Promise<ConnectionRecord | undefined> {
    const attemptAt = record.refreshAttemptAt ?? clock.now();
    let next: TokenSet;
    try {
      const text = sealer.open(record.sealedRefreshAnswer!, answerContext(record.id));
      next = await processTokenResponse(new Response(text, { status: 200 }), { clock });
    } catch (error) {
      // It was stored unread and turned out unreadable: as good as lost; the attempt stays.
      logger.warn({ connectionId: record.id, err: error }, 'stored refresh answer unreadable');
      await store.connections.update(record.id, { sealedRefreshAnswer: null }, record.tokenVersion);
      return undefined;
    }
    // Its lifetime counts from the call, not from now.
    next = { ...next, expiresAt: next.expiresAt - (clock.now() - attemptAt) };
    logger.info({ connectionId: record.id }, 'refresh answer recovered from the store');
    return storeRefreshed(record, tokens, next, attemptAt).catch((error: unknown) => {
      if (error instanceof BridgeError && error.code === 'conflict') return undefined;
      throw error;
    });
  }

  /** Stores the answer of a token call made under our lease: the rotated refresh token first of all. */
  async function storeRefreshed(
    record: ConnectionRecord,
    tokens: StoredTokens,
    next: TokenSet,
    issuedAt: number,
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
      accessIssuedAt: issuedAt,
      grantedScopes: next.scope ?? record.grantedScopes,
      tokenVersion: record.tokenVersion + 1,
      refreshLeaseUntil: null,
      refreshAttemptAt: null,
      sealedRefreshAnswer: null,
      updatedAt: clock.now(),
    };
    await mustWrite(record.id, patch, record.tokenVersion, 'the rotated token');
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
  /**
   * The access token to call with, refreshed first when due. `current` is the connection's row as
   * the caller read it moments ago in the same request (the API's ownership check), so that one
   * request reads the row once; without it the row is read here.
   */
  async function accessToken(
    id: string,
    current?: ConnectionRecord,
  ): Promise<{ accessToken: string; record: ConnectionRecord }> {
    let record = current ?? (await load(id));
    assertUsable(record);
    if (due(record, clock.now())) {
      try {
        record = await refresh(id);
      } catch (error) {
        // A refresh that failed for a passing reason (network, 5xx, budget) need not fail a call
        // while the current access token still works.
        const passing = !(
          error instanceof BridgeError &&
          ['revoked', 'expired', 'reauthorization_required'].includes(error.code)
        );
        if (!passing || (record.accessExpiresAt ?? 0) <= clock.now()) throw error;
        logger.warn(
          { connectionId: id, err: error },
          'early refresh failed; using the current access token',
        );
      }
    }
    return { accessToken: unsealedAccessToken(record), record };
  }

  return { refresh, accessToken };
}

function isLeased(record: ConnectionRecord, now: number): boolean {
  return record.refreshLeaseUntil !== null && record.refreshLeaseUntil > now;
}

/** Throws the connection's state as an error unless it is active with tokens. */
function assertUsable(record: ConnectionRecord): void {
  if (record.state === 'active' && record.sealedTokens) return;
  throw connectionStateError(record);
}

/**
 * The access token of a row, unsealed once per sealed value: a proxied read would otherwise
 * pay an AES-GCM open (and a JSON parse) each time. Keyed on the sealed text itself, which
 * changes with every token write, so a refreshed or cleared token is never answered stale.
 */
function createUnsealedCache(sealer: Sealer): (record: ConnectionRecord) => string {
  const unsealed = new Map<string, { sealed: string; accessToken: string }>();
  return (record) => {
    const sealed = record.sealedTokens!;
    const cached = unsealed.get(record.id);
    if (cached?.sealed === sealed) return cached.accessToken;
    const { accessToken } = openTokens(sealer, record.id, sealed);
    // One entry per connection; the oldest goes first once there are many.
    if (unsealed.size >= UNSEALED_CACHE_SIZE) unsealed.delete(unsealed.keys().next().value!);
    unsealed.delete(record.id);
    unsealed.set(record.id, { sealed, accessToken });
    return accessToken;
  };
}
