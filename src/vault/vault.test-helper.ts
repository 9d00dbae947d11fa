// Test scaffolding for the vault: its dependencies around a real SQLite store file, an injected
// clock and sleep, and a scripted token endpoint. One public-client practice, one registration.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../common/clock.ts';
import { createLogger } from '../common/logger.ts';
import { createSealer, type Sealer } from '../common/seal.ts';
import { createEventLog } from '../events/log.ts';
import type { ConnectionRecord, Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import type { VaultDeps } from './deps.ts';
import { openTokens, type StoredTokens, sealTokens } from './token-set.ts';

export const BASE = 'https://ehr.example/fhir/r4/P1';
export const TOKEN_ENDPOINT = 'https://ehr.example/oauth/token';
export const AUTHORIZE_ENDPOINT = 'https://ehr.example/oauth/authorize';
export const PUBLIC_URL = 'https://bridge.example';

export type TokenEndpoint = (body: URLSearchParams) => Response | Promise<Response>;

export interface VaultFixture {
  deps: VaultDeps;
  clock: ManualClock;
  store: Store;
  /** The form bodies the token endpoint received, in order. */
  tokenCalls: URLSearchParams[];
  /** The waits asked of the injected sleep, in ms (each moves the clock on by as much). */
  sleeps: number[];
  /** Runs before each budget grant: lets a test act as another process in the meantime. */
  beforeBudget: { hook: () => Promise<void> };
  /** Runs before each sleep, after the clock moved. */
  duringSleep: { hook: (count: number) => Promise<void> };
  insertActive(id: string, patch?: Partial<ConnectionRecord>): Promise<ConnectionRecord>;
  tokensOf(id: string): Promise<StoredTokens>;
  close(): Promise<void>;
}

/** A token answer as healow sends it: a new access token and a rotated refresh token. */
export function tokenAnswer(n: number): Response {
  return Response.json({
    access_token: `at-${n}`,
    token_type: 'Bearer',
    expires_in: 3600,
    refresh_token: `rt-${n}`,
  });
}

/** An active connection of registration `r1` at BASE whose tokens (`at-0`, `rt-0`) live an hour from `now`. */
export function activeConnection(
  sealer: Sealer,
  id: string,
  now: number,
  patch: Partial<ConnectionRecord> = {},
): ConnectionRecord {
  return {
    id,
    registration: 'r1',
    practiceBase: BASE,
    userRef: `user-of-${id}`,
    state: 'active',
    stateReason: null,
    patientId: 'p1',
    fhirUser: null,
    grantedScopes: ['patient/Patient.read'],
    sealedTokens: sealTokens(sealer, id, {
      accessToken: 'at-0',
      refreshToken: 'rt-0',
      expiresAt: now + 3_600_000,
    }),
    accessExpiresAt: now + 3_600_000,
    accessIssuedAt: now,
    refreshExpiresAt: null,
    refreshAttemptAt: null,
    sealedRefreshAnswer: null,
    tokenVersion: 1,
    refreshLeaseUntil: null,
    createdAt: now,
    updatedAt: now,
    connectedAt: now,
    ...patch,
  };
}

export async function vaultFixture(tokenEndpoint: TokenEndpoint): Promise<VaultFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'fhirbridge-vault-'));
  const clock = new ManualClock();
  const store = await openSqliteStore({ path: join(dir, 'vault.sqlite'), clock });
  const sealer = createSealer([{ id: 'k1', key: Buffer.alloc(32, 7) }]);
  const logger = createLogger({ level: 'silent' });
  const tokenCalls: URLSearchParams[] = [];
  const sleeps: number[] = [];
  const beforeBudget = { hook: async () => {} };
  const duringSleep = { hook: async (_count: number) => {} };

  const fetchStub = (async (_url: string, init: RequestInit) => {
    const body = new URLSearchParams(init.body as URLSearchParams);
    tokenCalls.push(body);
    return tokenEndpoint(body);
  }) as unknown as typeof fetch;

  const deps: VaultDeps = {
    store,
    sealer,
    clock,
    logger,
    keys: {} as VaultDeps['keys'],
    discovery: {
      discover: async () => ({
        issuer: BASE,
        authorization_endpoint: AUTHORIZE_ENDPOINT,
        token_endpoint: TOKEN_ENDPOINT,
        scopes_supported: ['openid', 'fhirUser', 'launch/patient', 'patient/Patient.read'],
      }),
      forget: () => {},
    },
    idTokens: {} as VaultDeps['idTokens'],
    practices: {
      get: async (id) => (id === 'P1' ? practice : undefined),
      byBase: async (base) => (base === BASE ? practice : undefined),
      list: async () => [practice],
    },
    registrations: {
      r1: {
        clientType: 'public',
        clientId: 'app',
        authorizationServers: [],
        scopes: ['launch/patient', 'patient/Patient.read'],
      },
    } as unknown as VaultDeps['registrations'],
    events: createEventLog({ store, clock, logger }),
    budget: {
      acquire: async () => beforeBudget.hook(),
      landed: async () => {},
      unsent: async () => {},
    } as unknown as VaultDeps['budget'],
    publicUrl: PUBLIC_URL,
    fetch: fetchStub,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
      await duringSleep.hook(sleeps.length);
    },
  };

  async function insertActive(
    id: string,
    patch: Partial<ConnectionRecord> = {},
  ): Promise<ConnectionRecord> {
    const record = activeConnection(sealer, id, clock.now(), patch);
    await store.connections.insert(record);
    return record;
  }

  async function tokensOf(id: string): Promise<StoredTokens> {
    const row = await store.connections.get(id);
    return openTokens(sealer, id, row!.sealedTokens!);
  }

  return {
    deps,
    clock,
    store,
    tokenCalls,
    sleeps,
    beforeBudget,
    duringSleep,
    insertActive,
    tokensOf,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const practice = {
  id: 'P1',
  name: 'Practice One',
  base: BASE,
  vendor: 'healow' as const,
  registration: 'r1',
};
