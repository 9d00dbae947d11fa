// The store port: what fhirbridge keeps, as interfaces. Adapters (sqlite now, postgres for
// scale-out) implement it and pass the same contract suite (contract.ts). Every method is
// async so that a network database fits behind the same port. Secrets arrive here already
// sealed (src/common/seal.ts): no adapter ever sees a plain token or private key.
import type { JobRepository } from './port-jobs.ts';
import type { PracticeRepository } from './port-practices.ts';
import type { ResourceRepository, SyncStateRepository } from './port-resources.ts';
import type { WebhookRepository } from './port-webhooks.ts';

export type * from './port-jobs.ts';
export type * from './port-practices.ts';
export type * from './port-resources.ts';
export type * from './port-webhooks.ts';

export type KeyStatus = 'next' | 'active' | 'retired';

/** One signing key of a keyring (one keyring per app registration). */
export interface StoredKey {
  kid: string;
  keyring: string;
  status: KeyStatus;
  /** Public JWK as JSON (no private members). */
  publicJwk: Record<string, unknown>;
  /** PKCS#8 PEM sealed with the master key; context = `key:<kid>`. */
  sealedPrivateKey: string;
  createdAt: number;
  /** For `next`: when it starts signing. */
  activatesAt: number | null;
  /** For `retired`: when it leaves the JWKS. */
  removeAt: number | null;
}

export interface KeyRepository {
  list(keyring: string): Promise<StoredKey[]>;
  /** Insert or replace by kid. */
  put(key: StoredKey): Promise<void>;
  delete(kid: string): Promise<void>;
  /**
   * Runs `task` holding the keyring's lock in every process on this store, so two processes
   * never both add an active or next key. Optional: without it, key changes are serialized
   * within one process only (enough for one process on a store).
   */
  exclusive?<T>(keyring: string, task: () => Promise<T>): Promise<T>;
}

/**
 * `declined`: the patient said no at the EHR (a new launch may still connect it).
 * `reauthorization_required`: the EHR refused a refresh token after a refresh whose answer was
 * lost, so the grant may well be alive at the EHR with a token we never received; the patient
 * must launch again. `revoked` is kept for a refusal with nothing uncertain before it.
 */
export type ConnectionState =
  | 'pending'
  | 'active'
  | 'declined'
  | 'expired'
  | 'revoked'
  | 'reauthorization_required'
  | 'error';

export interface ConnectionRecord {
  id: string;
  registration: string;
  /** The practice's FHIR base URL, without a trailing slash. */
  practiceBase: string;
  /** The app's own reference for its user (opaque to us). */
  userRef: string;
  state: ConnectionState;
  /** Why the last state change happened, for people (never a secret). */
  stateReason: string | null;
  patientId: string | null;
  fhirUser: string | null;
  grantedScopes: string[];
  /** Token set sealed with the master key, context = `tokens:<id>`; null when forgotten. */
  sealedTokens: string | null;
  accessExpiresAt: number | null;
  /** When the current access token was issued (epoch ms); with accessExpiresAt, its lifetime. */
  accessIssuedAt?: number | null;
  refreshExpiresAt: number | null;
  /**
   * Set (durably) right before a refresh token call, cleared once its answer is stored or the
   * EHR refused without rotating: a value found later means an answer was lost.
   */
  refreshAttemptAt?: number | null;
  /** A refresh answer as received, sealed (`refresh-answer:<id>`), until its tokens are stored. */
  sealedRefreshAnswer?: string | null;
  /** Bumped on every token write: compare-and-set guard for refreshes across processes. */
  tokenVersion: number;
  /** While a process refreshes this connection's tokens, others wait (epoch ms); see vault. */
  refreshLeaseUntil: number | null;
  createdAt: number;
  updatedAt: number;
  connectedAt: number | null;
}

export type ConnectionPatch = Partial<
  Omit<ConnectionRecord, 'id' | 'registration' | 'practiceBase' | 'userRef' | 'createdAt'>
>;

export interface ConnectionRepository {
  /** A duplicate id or (registration, practiceBase, userRef) is BridgeError('conflict'). */
  insert(record: ConnectionRecord): Promise<void>;
  get(id: string): Promise<ConnectionRecord | undefined>;
  /** The existing connection of a user at a practice under a registration (reconnects keep it). */
  findByUser(
    registration: string,
    practiceBase: string,
    userRef: string,
  ): Promise<ConnectionRecord | undefined>;
  /** Applies `patch`; when `expectedTokenVersion` is given, only if it still matches (else false). */
  update(id: string, patch: ConnectionPatch, expectedTokenVersion?: number): Promise<boolean>;
  /** Active connections whose access token lapses before `before` (epoch ms). */
  listExpiring(before: number, limit: number): Promise<ConnectionRecord[]>;
  /** Newest first (createdAt descending); with `userRefPrefix`, only those whose userRef starts with it. */
  list(options: {
    limit: number;
    offset?: number;
    userRefPrefix?: string;
  }): Promise<ConnectionRecord[]>;
  /** Also removes the connection's pending auth sessions; its events stay. */
  delete(id: string): Promise<void>;
}

/** A pending authorize round trip, keyed by the SHA-256 of its state value. */
export interface AuthSession {
  stateHash: string;
  connectionId: string;
  /** Sealed PKCE verifier; context = `pkce:<stateHash>`. */
  sealedVerifier: string;
  nonce: string;
  redirectUri: string;
  returnTo: string | null;
  /** SHA-256 of the browser-binding cookie value; null until a browser opens the launch link. */
  browserHash: string | null;
  createdAt: number;
  expiresAt: number;
}

export interface AuthSessionRepository {
  /** Insert only: a duplicate stateHash is a 'conflict', an unknown connectionId 'not_found'. */
  put(session: AuthSession): Promise<void>;
  get(stateHash: string): Promise<AuthSession | undefined>;
  /** Binds the session to a browser once: sets browserHash only while it is null (else false). */
  bindBrowser(stateHash: string, browserHash: string): Promise<boolean>;
  /** Atomically removes and returns the session: a state works once. */
  take(stateHash: string): Promise<AuthSession | undefined>;
  /** Removes sessions that expired before `now`; returns how many. */
  purgeExpired(now: number): Promise<number>;
  /** Live sessions (not expired at `now`) of connections whose userRef starts with the prefix. */
  countLive(now: number, userRefPrefix: string): Promise<number>;
  /** Connections that never connected (pending or declined) whose userRef starts with the prefix. */
  countPendingConnections(userRefPrefix: string): Promise<number>;
  /**
   * Forgets abandoned sign-ins: sessions expired at `now`, and never-connected connections of
   * the prefix created before `pendingBefore` with no live session left. Returns the counts.
   */
  purgeAbandoned(options: {
    now: number;
    pendingBefore: number;
    userRefPrefix: string;
  }): Promise<{ sessions: number; connections: number }>;
}

/** `app`: acts on the connections its app made; `admin`: also the operator's routes, every connection. */
export type ApiKeyRole = 'app' | 'admin';

export interface ApiKeyRecord {
  id: string;
  /** The app the key belongs to: keys with one name are one app (a rotated key keeps its connections). */
  name: string;
  role: ApiKeyRole;
  /** SHA-256 of the secret, hex. */
  hash: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface ApiKeyRepository {
  /** A duplicate id or hash is BridgeError('conflict'). */
  insert(record: ApiKeyRecord): Promise<void>;
  findByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  touch(id: string, at: number): Promise<void>;
  revoke(id: string, at: number): Promise<boolean>;
}

/** An event in the outbox (webhook deliveries build on it). */
export interface EventRecord {
  id: string;
  type: string;
  connectionId: string | null;
  data: Record<string, unknown>;
  createdAt: number;
}

export interface EventRepository {
  /** A duplicate id is BridgeError('conflict'). */
  append(event: EventRecord): Promise<void>;
  /** Insertion order; `after` is an event id (unknown: BridgeError('invalid_request')). */
  list(options: { connectionId?: string; after?: string; limit: number }): Promise<EventRecord[]>;
}

export interface Store {
  readonly keys: KeyRepository;
  readonly connections: ConnectionRepository;
  readonly authSessions: AuthSessionRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly events: EventRepository;
  readonly practices: PracticeRepository;
  readonly jobs: JobRepository;
  readonly webhooks: WebhookRepository;
  readonly resources: ResourceRepository;
  readonly sync: SyncStateRepository;
  close(): Promise<void>;
}
