// The vault: connections and their encrypted token sets. One object for the API, CLI and FHIR
// layer to use; what a connection looks like from outside (never a token) is `viewConnection`.
import { BridgeError } from '../common/errors.ts';
import type { ConnectionRecord } from '../store/port.ts';
import type { VaultDeps } from './deps.ts';
import { createLauncher, type StartResult } from './launch.ts';
import { createTokenKeeper } from './refresh.ts';
import { createRevoker } from './revoke.ts';
import { updateByVersion } from './write.ts';

export interface ConnectionView {
  id: string;
  registration: string;
  practiceBase: string;
  userRef: string;
  state: ConnectionRecord['state'];
  stateReason: string | null;
  patient: string | null;
  fhirUser: string | null;
  scopes: string[];
  accessExpiresAt: string | null;
  refreshExpiresAt: string | null;
  connectedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function viewConnection(c: ConnectionRecord): ConnectionView {
  return {
    id: c.id,
    registration: c.registration,
    practiceBase: c.practiceBase,
    userRef: c.userRef,
    state: c.state,
    stateReason: c.stateReason,
    patient: c.patientId,
    fhirUser: c.fhirUser,
    scopes: c.grantedScopes,
    accessExpiresAt: iso(c.accessExpiresAt),
    refreshExpiresAt: iso(c.refreshExpiresAt),
    connectedAt: iso(c.connectedAt),
    createdAt: new Date(c.createdAt).toISOString(),
    updatedAt: new Date(c.updatedAt).toISOString(),
  };
}

/** What the FHIR client asks of a connection: a token, and a fresh one after a 401. */
export interface TokenSource {
  accessToken(): Promise<string>;
  refreshed(): Promise<string>;
}

export type Vault = ReturnType<typeof createVault>;

export function createVault(deps: VaultDeps) {
  const launcher = createLauncher(deps);
  const keeper = createTokenKeeper(deps);
  const revoker = createRevoker(deps);
  const { store, clock, events } = deps;

  async function get(id: string): Promise<ConnectionRecord> {
    const record = await store.connections.get(id);
    if (!record) throw new BridgeError('not_found', `unknown connection "${id}"`);
    return record;
  }

  return {
    start: launcher.start,
    launch: launcher.launch,
    callback: launcher.callback,
    refresh: keeper.refresh,
    accessToken: keeper.accessToken,
    get,

    /**
     * Ends the connection: revokes its tokens at the EHR where it offers RFC 7009 revocation,
     * forgets them, and forgets the synced record unless `keepRecord`. The connection row stays
     * (as `revoked`, reason "disconnected") for its history; a new launch may reconnect it.
     */
    async disconnect(
      id: string,
      options: { keepRecord?: boolean } = {},
    ): Promise<{ connection: ConnectionRecord; revoked: boolean; resourcesForgotten: number }> {
      const current = await get(id);
      const revoked = await revoker.revokeAll(current);
      const disconnected = await updateByVersion(store, id, () => ({
        state: 'revoked',
        stateReason: 'disconnected by the app',
        sealedTokens: null,
        accessExpiresAt: null,
        accessIssuedAt: null,
        refreshExpiresAt: null,
        refreshAttemptAt: null,
        sealedRefreshAnswer: null,
        updatedAt: clock.now(),
      }));
      const resourcesForgotten = options.keepRecord ? 0 : await store.resources.forgetRecord(id);
      await events.emit('connection.disconnected', id, {
        revokedAtEhr: revoked,
        recordKept: options.keepRecord === true,
        resourcesForgotten,
      });
      return { connection: disconnected, revoked, resourcesForgotten };
    },

    /** A new launch for the connection's user at its practice: the way back from any state. */
    async reconnect(id: string, returnTo?: string): Promise<StartResult> {
      const connection = await get(id);
      const practice = await deps.practices.byBase(connection.practiceBase);
      if (!practice) {
        throw new BridgeError(
          'not_found',
          `the practice of connection ${id} is no longer configured`,
        );
      }
      return launcher.start({ practice: practice.id, userRef: connection.userRef, returnTo });
    },

    /**
     * The FHIR client's view of the connection's tokens. After a 401 it names the token that
     * failed, so that a refresh somebody else already made is used instead of making another.
     * `read` is the row as the caller's request just read it: the first token comes from it
     * without reading the row again; every later one (after a refresh) reads the row.
     */
    tokenSource(id: string, read?: ConnectionRecord): TokenSource {
      let last: string | undefined;
      let fresh = read;
      const current = async () => {
        const row = fresh;
        fresh = undefined;
        last = (await keeper.accessToken(id, row)).accessToken;
        return last;
      };
      return {
        accessToken: current,
        async refreshed() {
          await keeper.refresh(id, {
            force: true,
            ...(last === undefined ? {} : { staleAccessToken: last }),
          });
          return current();
        },
      };
    },
  };
}
