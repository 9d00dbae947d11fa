// The SMART standalone launch as the vault runs it (SMART App Launch 2.x §"Standalone launch"):
// start (connection + pending auth session), launch (bind the browser, redirect to the EHR) and
// callback (state checks, code exchange, id_token, patient context, sealed tokens).
import { BridgeError } from '../common/errors.ts';
import { sha256Hex } from '../common/hash.ts';
import { randomId, randomToken } from '../common/random.ts';
import type { Registration } from '../config/schema.ts';
import { type Practice, REFRESH_TOKEN_LIFETIME_MS } from '../practices/registry.ts';
import {
  buildAuthorizeUrl,
  type CallbackResult,
  createPkce,
  exchangeCode,
  grantedScopes,
  type IdTokenClaims,
  parseCallback,
  patientFromTokenResponse,
  pkceChallenge,
  type SmartConfiguration,
  selectScopes,
  type TokenSet,
} from '../smart/index.ts';
import type { AuthSession, ConnectionRecord } from '../store/port.ts';
import { assertAuthorizationServer, clientAuthFor } from './client-auth.ts';
import { AUTH_SESSION_TTL_MS, type VaultDeps } from './deps.ts';
import { sealTokens } from './token-set.ts';
import { updateByVersion } from './write.ts';

export interface StartRequest {
  practice: string;
  userRef: string;
  /** Where the browser goes after the callback (already checked against the allow-list). */
  returnTo?: string | undefined;
}

export interface StartResult {
  connection: ConnectionRecord;
  /** Our own launch link: opening it binds the browser and redirects to the EHR. */
  launchUrl: string;
}

export type CallbackOutcome =
  | { outcome: 'connected'; connection: ConnectionRecord; returnTo: string | null }
  | { outcome: 'declined'; connection: ConnectionRecord; returnTo: string | null }
  | { outcome: 'error'; connection: ConnectionRecord; returnTo: string | null; error: string };

const stateHashOf = (state: string) => sha256Hex(state);

/** A new connection, pending until its first callback. */
function pendingConnection(practice: Practice, userRef: string, now: number): ConnectionRecord {
  return {
    id: randomId('con'),
    registration: practice.registration,
    practiceBase: practice.base,
    userRef,
    state: 'pending',
    stateReason: null,
    patientId: null,
    fhirUser: null,
    grantedScopes: [],
    sealedTokens: null,
    accessExpiresAt: null,
    refreshExpiresAt: null,
    tokenVersion: 0,
    refreshLeaseUntil: null,
    createdAt: now,
    updatedAt: now,
    connectedAt: null,
  };
}
const pkceContext = (stateHash: string) => `pkce:${stateHash}`;

export function createLauncher(deps: VaultDeps) {
  const { store, sealer, clock, discovery, practices, registrations, events, budget, logger } =
    deps;

  async function contextOf(connection: Pick<ConnectionRecord, 'registration' | 'practiceBase'>) {
    const registration = registrations[connection.registration];
    if (!registration) {
      throw new BridgeError(
        'invalid_config',
        `registration "${connection.registration}" is not configured`,
      );
    }
    const config = await discovery.discover(connection.practiceBase);
    assertAuthorizationServer(connection.registration, registration, config);
    return {
      registration,
      config,
      redirectUri: registration.redirectUri ?? `${deps.publicUrl}/callback`,
    };
  }

  /**
   * What the authorize request asks for (selectScopes): only what the server's list covers,
   * since a scope healow does not list fails its authorize step; never write access.
   */
  function requestableScopes(
    wanted: string[],
    config: SmartConfiguration,
    { log }: { log: boolean },
  ): string[] {
    const { request, rewritten, leftOut } = selectScopes(wanted, config.scopes_supported);
    if (log && leftOut.length > 0) {
      logger.warn({ leftOut }, 'scopes the server does not support were not requested');
    }
    if (log && rewritten.length > 0) {
      logger.info({ rewritten }, 'scopes requested in the form the server lists');
    }
    return request;
  }

  async function start({
    practice: practiceId,
    userRef,
    returnTo,
  }: StartRequest): Promise<StartResult> {
    const practice: Practice | undefined = await practices.get(practiceId);
    if (!practice) throw new BridgeError('not_found', `unknown practice "${practiceId}"`);
    const connection = await findOrCreateConnection(practice, userRef);
    // Discover now so that a broken practice fails here, not after the patient's redirect.
    const { redirectUri } = await contextOf(connection);
    const state = randomToken(32);
    await store.authSessions.put(
      await newAuthSession(state, connection, redirectUri, returnTo ?? null),
    );
    return { connection, launchUrl: `${deps.publicUrl}/launch/${state}` };
  }

  /** The user's connection at the practice: a reconnect keeps its id. */
  async function findOrCreateConnection(
    practice: Practice,
    userRef: string,
  ): Promise<ConnectionRecord> {
    const existing = await store.connections.findByUser(
      practice.registration,
      practice.base,
      userRef,
    );
    if (existing) return existing;
    const connection = pendingConnection(practice, userRef, clock.now());
    await store.connections.insert(connection);
    return connection;
  }

  /** A pending sign-in: keyed by SHA-256(state), the PKCE verifier sealed to it. */
  async function newAuthSession(
    state: string,
    connection: ConnectionRecord,
    redirectUri: string,
    returnTo: string | null,
  ): Promise<AuthSession> {
    const now = clock.now();
    const stateHash = stateHashOf(state);
    const pkce = await createPkce();
    return {
      stateHash,
      connectionId: connection.id,
      sealedVerifier: sealer.seal(pkce.verifier, pkceContext(stateHash)),
      nonce: randomToken(16),
      redirectUri,
      returnTo,
      browserHash: null,
      createdAt: now,
      expiresAt: now + AUTH_SESSION_TTL_MS,
    };
  }

  async function liveSession(state: string): Promise<AuthSession> {
    const session = await store.authSessions.get(stateHashOf(state));
    if (!session || session.expiresAt <= clock.now()) {
      throw new BridgeError(
        'invalid_state',
        'this sign-in link is unknown, used or expired: start again',
      );
    }
    return session;
  }

  /**
   * The browser opened our launch link: bind the session to its cookie (first opener wins) and
   * answer with the EHR's authorize URL. The redirect counts against the practice budget, since
   * healow counts /authorize calls.
   */
  async function launch(state: string, browserSecret: string): Promise<string> {
    const session = await liveSession(state);
    const browserHash = sha256Hex(browserSecret);
    let bound = false;
    if (session.browserHash !== browserHash) {
      bound =
        session.browserHash === null &&
        (await store.authSessions.bindBrowser(session.stateHash, browserHash));
      if (!bound)
        throw new BridgeError('invalid_state', 'this sign-in link was opened in another browser');
    }
    const connection = await store.connections.get(session.connectionId);
    if (!connection)
      throw new BridgeError('invalid_state', 'the connection of this sign-in link is gone');
    const { registration, config } = await contextOf(connection);
    const verifier = sealer.open(session.sealedVerifier, pkceContext(session.stateHash));
    // Only the opening that bound the session spends: re-opening the link in the same browser
    // hands out the same authorize URL again, and must not drain the practice's budget.
    if (bound) {
      await budget.acquire(connection.practiceBase, {
        priority: 'interactive',
        connectionId: connection.id,
      });
    }
    return buildAuthorizeUrl({
      authorizationEndpoint: config.authorization_endpoint,
      clientId: registration.clientId,
      redirectUri: session.redirectUri,
      scope: requestableScopes(registration.scopes, config, { log: true }),
      state,
      aud: connection.practiceBase,
      codeChallenge: await pkceChallenge(verifier),
      nonce: session.nonce,
    });
  }

  async function callback(
    query: Record<string, unknown>,
    browserSecret: string | undefined,
  ): Promise<CallbackOutcome> {
    const result = parseCallback(query);
    if (!result.state) throw new BridgeError('invalid_state', 'the callback carries no state');
    const session = await takeSession(result.state, browserSecret);
    const connection = await store.connections.get(session.connectionId);
    if (!connection)
      throw new BridgeError('invalid_state', 'the connection of this sign-in is gone');
    if (result.kind === 'error') return authorizeRefused(result, connection, session.returnTo);
    return connect(connection, session, result.code);
  }

  /**
   * The sign-in a callback answers, used up: a state works exactly once, whatever happens next.
   * The browser is checked before the state is used up, so that a foreign request cannot burn a
   * real sign-in.
   */
  async function takeSession(
    state: string,
    browserSecret: string | undefined,
  ): Promise<AuthSession> {
    const stateHash = stateHashOf(state);
    const unknown = 'this sign-in answer is unknown, used or expired: start again';
    const found = await store.authSessions.get(stateHash);
    if (!found || found.expiresAt <= clock.now()) throw new BridgeError('invalid_state', unknown);
    if (!browserSecret || found.browserHash !== sha256Hex(browserSecret)) {
      throw new BridgeError('invalid_state', 'this sign-in answer belongs to another browser');
    }
    const session = await store.authSessions.take(stateHash);
    if (!session) throw new BridgeError('invalid_state', unknown);
    return session;
  }

  /** The EHR answered the authorize request with an error instead of a code. */
  async function authorizeRefused(
    result: Extract<CallbackResult, { kind: 'error' }>,
    connection: ConnectionRecord,
    returnTo: string | null,
  ): Promise<CallbackOutcome> {
    if (result.error === 'access_denied') {
      // A state of its own, and retryable: a new launch for the same user may still connect
      // it. A connection that works keeps working: declining a new grant leaves the old one.
      const declined =
        connection.state === 'active'
          ? connection
          : await updateByVersion(store, connection.id, () => ({
              state: 'declined',
              stateReason: 'the patient declined at the EHR',
              updatedAt: clock.now(),
            }));
      await events.emit('connection.declined', connection.id, { state: declined.state });
      return { outcome: 'declined', connection: declined, returnTo };
    }
    const error = `the EHR answered ${result.error}${result.errorDescription ? `: ${result.errorDescription}` : ''}`;
    await events.emit('connection.error', connection.id, { error: result.error });
    return { outcome: 'error', connection, returnTo, error };
  }

  /** The code exchanged, the id_token checked, the patient found and the tokens stored. */
  async function connect(
    connection: ConnectionRecord,
    session: AuthSession,
    code: string,
  ): Promise<CallbackOutcome> {
    const { registration, config } = await contextOf(connection);
    const { tokens, grantedAt } = await exchangeSessionCode(connection, session, code, {
      registration,
      config,
    });
    const claims = await idTokenClaims(tokens, config, registration.clientId, session.nonce);
    const { patientId, fhirUser } = patientFromTokenResponse({
      patient: tokens.patient,
      idTokenClaims: claims,
    });
    if (!patientId) {
      throw new BridgeError(
        'token_rejected',
        'the token response names no patient (no `patient`, no Patient fhirUser)',
      );
    }
    await forgetOtherPatient(connection, patientId);
    const refreshExpiresAt = await refreshTokenEnd(connection, tokens, grantedAt);
    // By compare-and-set: a refresh of the previous grant still in flight elsewhere must not
    // write its tokens over these afterwards.
    const connected = await updateByVersion(store, connection.id, () => ({
      state: 'active',
      stateReason: null,
      patientId,
      fhirUser: fhirUser ?? null,
      // No `scope` in the answer means "what was asked" (RFC 6749 §5.1): what the authorize
      // request asked, not what the registration wants.
      grantedScopes: grantedScopes(
        requestableScopes(registration.scopes, config, { log: false }),
        tokens.scope,
      ),
      sealedTokens: sealTokens(sealer, connection.id, {
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        idToken: tokens.idToken,
        expiresAt: tokens.expiresAt,
      }),
      accessExpiresAt: tokens.expiresAt,
      accessIssuedAt: grantedAt,
      refreshExpiresAt,
      refreshAttemptAt: null,
      sealedRefreshAnswer: null,
      updatedAt: clock.now(),
      connectedAt: clock.now(),
    }));
    await events.emit('connection.connected', connection.id, {
      patient: patientId,
      scopes: connected.grantedScopes,
    });
    return { outcome: 'connected', connection: connected, returnTo: session.returnTo };
  }

  /** The code exchange, with the session's verifier and the registration's client authentication. */
  async function exchangeSessionCode(
    connection: ConnectionRecord,
    session: AuthSession,
    code: string,
    { registration, config }: { registration: Registration; config: SmartConfiguration },
  ): Promise<{ tokens: TokenSet; grantedAt: number }> {
    const auth = await clientAuthFor(connection.registration, registration, deps.keys);
    const verifier = sealer.open(session.sealedVerifier, pkceContext(session.stateHash));
    const grant = await budget.acquire(connection.practiceBase, {
      priority: 'interactive',
      connectionId: connection.id,
    });
    // healow's 90 days start when it issues the grant: count from before we asked, not after.
    const grantedAt = clock.now();
    const tokens = await exchangeCode({
      tokenEndpoint: config.token_endpoint,
      auth,
      clock,
      fetch: deps.fetch,
      code,
      redirectUri: session.redirectUri,
      codeVerifier: verifier,
    });
    // Answered (a refused exchange throws and keeps the slot, the safe side).
    void budget.landed(grant, clock.now());
    return { tokens, grantedAt };
  }

  /** The id_token's claims, checked against the server's keys; undefined when none was sent. */
  async function idTokenClaims(
    tokens: TokenSet,
    config: SmartConfiguration,
    clientId: string,
    nonce: string,
  ): Promise<IdTokenClaims | undefined> {
    if (!tokens.idToken) return undefined;
    if (!config.jwks_uri) {
      throw new BridgeError(
        'invalid_id_token',
        'the server sent an id_token but advertises no jwks_uri to check it',
      );
    }
    return deps.idTokens.validateIdToken(tokens.idToken, {
      jwksUri: config.jwks_uri,
      issuer: config.issuer,
      clientId,
      nonce,
    });
  }

  /**
   * Another patient signed in on a connection that held someone's record (a shared device, a
   * parent and child): the old record and its sync checkpoints must not mix with the new one.
   */
  async function forgetOtherPatient(connection: ConnectionRecord, patientId: string) {
    if (connection.patientId === null || connection.patientId === patientId) return;
    const forgotten = await store.resources.forgetRecord(connection.id);
    logger.info(
      { connectionId: connection.id, forgotten },
      'patient changed on reconnect; previous record forgotten',
    );
  }

  /** When the refresh token ends, where the vendor says (healow: 90 days from the grant). */
  async function refreshTokenEnd(
    connection: ConnectionRecord,
    tokens: TokenSet,
    grantedAt: number,
  ): Promise<number | null> {
    if (!tokens.refreshToken) return null;
    const practice = await practices.byBase(connection.practiceBase);
    const lifetime = REFRESH_TOKEN_LIFETIME_MS[practice?.vendor ?? 'generic'];
    return lifetime === null ? null : grantedAt + lifetime;
  }

  return { start, launch, callback };
}
