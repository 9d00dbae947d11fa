// What the simulator's parts share: its options, its clock, its practices, the patient data and
// the grants behind access tokens. The simulator shares nothing with the client side of
// fhirbridge (src/common included) but FHIR types, so that it checks the client instead of
// agreeing with it.

import type { SimulatorOptions } from './options.ts';

/** The simulator's own clock: real time plus an offset that the admin API can shift. */
export interface SimClock {
  now(): number;
  shift(ms: number): void;
}

export interface SimPractice {
  /** healow practice code, the last path segment of the base URL, e.g. `JAFJCD`. */
  code: string;
  name: string;
  city: string;
  state: string;
  /** A disabled practice (patient API switched off) answers every call with an error. */
  disabled: boolean;
}

/** healow's quirks and its unconfirmed behaviours, each a switch. */
export interface SimQuirks {
  /** `_lastUpdated` on a search: refused (400, the default) or accepted. */
  searchLastUpdated: 'accept' | 'refuse';
  /** `Patient?_id=`: refused (400, the default) or accepted. */
  searchPatientById: 'accept' | 'refuse';
  /** `_include` / `_revinclude`: refused (400, the default) or accepted. */
  searchInclude: 'accept' | 'refuse';
  /** `scopes_supported`: per type (default), `patient/*.read` or `patient/*.rs`. */
  scopesSupported: 'per-type' | 'wildcard-v1' | 'wildcard-v2';
  /** An empty searchset has no `entry` array. Default true. */
  emptyBundleWithoutEntry: boolean;
  /** The empty searchset's `total` is the `_count` asked, not 0. Default true. */
  wrongBundleTotal: boolean;
  /** `next` links and `fullUrl` point at http://fhir4.eclinicalworks.com/… Default true. */
  foreignLinks: boolean;
  /** Responses are `application/json+fhir;charset=UTF-8`. Default true. */
  legacyContentType: boolean;
  /** Send `Retry-After` with a 429. Default false. */
  retryAfterOn429: boolean;
  /** `rotate`: single-use refresh tokens (healow); `keep`: no new one, old stays (Cerner). */
  refreshTokens: 'rotate' | 'keep';
  /** Status of a refresh with a revoked grant: 400 invalid_grant (default) or 403. */
  revokedRefreshStatus: 400 | 403;
  /** Serve and advertise an RFC 7009 `revocation_endpoint`. Default false: healow has none. */
  revocationEndpoint: boolean;
  /** Include `patient` in the token response (default true); false → only fhirUser. */
  patientInTokenResponse: boolean;
  /** id_token `fhirUser` as an absolute URL (default) or relative (`Patient/123`). */
  fhirUserStyle: 'absolute' | 'relative';
}

export interface SimRateLimit {
  /** Calls per window per practice code. healow: 250. */
  limit: number;
  /** Window length; healow: one clock minute. Tests compress it. */
  windowMs: number;
}

/** What an access token stands for. */
export interface SimGrant {
  clientId: string;
  practiceCode: string;
  patientId: string;
  /** Granted scopes (a patient may untick some). */
  scopes: string[];
  /** Epoch ms. */
  expiresAt: number;
}

/** Implemented by the authorization server (auth/), used by the FHIR server (fhir/). */
export interface GrantLookup {
  /** The live grant behind a bearer token at a practice; undefined when unknown, expired or revoked. */
  introspect(practiceCode: string, accessToken: string): SimGrant | undefined;
}

/** Implemented by the data part (data/), used by the authorization server for login and id_token. */
export interface PatientDirectory {
  /** The four test patients' login names: AdultFemaleFHIR, AdultMaleFHIR, ChildFemaleFHIR, ChildMaleFHIR. */
  usernames(): string[];
  /** The FHIR Patient id of a test patient at a practice. */
  patientIdFor(practiceCode: string, username: string): string | undefined;
  /** Display name for the id_token `name` claim. */
  displayName(practiceCode: string, patientId: string): string | undefined;
}

// ---------------------------------------------------------------------------------------------
// The composition: what every route of the simulator receives. Built once by createSimulator
// (index.ts); owned by the server/auth side. Added by the server/auth engineer.

/**
 * The simulator's public URLs. The origin (http://127.0.0.1:PORT) is known only once the server
 * listens (port 0 in tests), so these are functions, valid while handling requests.
 */
export interface SimUrls {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  origin(): string;
  /** `${origin}/fhir/r4/{practiceCode}`: the FHIR base, the smart-configuration `issuer`, the `aud`. */
  fhirBase(practiceCode: string): string;
  /** `${origin}/oauth/oauth2/authorize` (shared by every practice, like healow's). */
  authorize(): string;
  /** `${origin}/oauth/oauth2/token`: also the `aud` a client assertion must carry. */
  token(): string;
  /** `${origin}/oauth/oauth2/jwks`: the server's id_token keys. */
  jwks(): string;
}

/** Why a client assertion (RFC 7523) was refused; counted per practice. */
export type AssertionFailureReason =
  | 'malformed'
  | 'alg'
  | 'typ'
  | 'kid_missing'
  | 'kid_unknown'
  | 'jwks_unreachable'
  | 'signature'
  | 'iss_sub'
  | 'aud'
  | 'expired'
  | 'exp_too_far'
  | 'replay';

/** Counters of one practice within one rate window or since start. */
export interface PracticeCounters {
  /** Calls counted by the rate limit in the current window (authorize, token, FHIR). */
  callsThisWindow: number;
  /** Calls counted since start. */
  callsTotal: number;
  /** The most calls counted in any one window since start (did a client keep its budget?). */
  peakCallsPerWindow: number;
  /** Calls of the latest windows, newest last (at most 10): `window` = floor(now / windowMs). */
  recentWindows: Array<{ window: number; calls: number }>;
  /** 429s sent since start. */
  rateLimited: number;
  /** Token responses from `authorization_code`. */
  tokensIssued: number;
  /** Token responses from `refresh_token`. */
  refreshes: number;
  /**
   * Refreshes refused because their refresh token was already used: two refreshes of one token
   * (a rotated token presented again), which loses the token the first one got.
   */
  refreshTokenReuses: number;
  /** Refused client assertions, by reason. */
  assertionFailures: Partial<Record<AssertionFailureReason, number>>;
}

/** Ground truth for tests and benchmarks (`GET /admin/counters`). */
export interface SimCounters {
  /** Counts one call against the practice's current rate window; returns the count so far. */
  countCall(practiceCode: string): number;
  rateLimited(practiceCode: string): void;
  tokenIssued(practiceCode: string): void;
  refreshed(practiceCode: string): void;
  refreshTokenReused(practiceCode: string): void;
  assertionFailed(practiceCode: string, reason: AssertionFailureReason): void;
  /** Current values of one practice (zeros for an unknown one). */
  get(practiceCode: string): PracticeCounters;
  /** All practices with any count. */
  snapshot(): Record<string, PracticeCounters>;
  reset(): void;
}

/**
 * A CapabilityStatement as plain JSON. (The installed @types/fhir is the STU3 global-namespace
 * package, so `fhir/r4` does not resolve; this stays independent of it.)
 */
export interface SimCapabilityStatement {
  resourceType: 'CapabilityStatement';
  [key: string]: unknown;
}

/** healow's discovery documents for one practice (discovery.ts). */
export interface SimDiscovery {
  /**
   * The CapabilityStatement of `{base}/metadata`, with the `oauth-uris` extension. The FHIR
   * routes serve `/metadata` with it (if they register no `/metadata` route, the server does).
   */
  capabilityStatement(practiceCode: string): SimCapabilityStatement;
  /** The `{base}/.well-known/smart-configuration` document (served by discovery.ts itself). */
  smartConfiguration(practiceCode: string): Record<string, unknown>;
}

/**
 * Everything a route needs. `Data` is the patient data implementation: the FHIR routes use
 * `SimulatorContext<PatientData>` (data/index.ts); the auth server needs only PatientDirectory.
 *
 * Cross-cutting behaviour runs in hooks before any route (server.ts), so routes need not repeat
 * it: the rate limit (429), disabled practices, unknown practice codes under `/fhir/r4/`,
 * injected faults, the error handler and the 404 handler (OperationOutcome under `/fhir/`).
 */
export interface SimulatorContext<Data extends PatientDirectory = PatientDirectory> {
  /** The resolved options (options.ts). */
  options: SimulatorOptions;
  clock: SimClock;
  urls: SimUrls;
  /** Practices by code. Mutable: the admin API can disable one. */
  practices: Map<string, SimPractice>;
  /** The same object as `options.quirks`; the admin API may change a switch at run time. */
  quirks: SimQuirks;
  rateLimit: SimRateLimit;
  data: Data;
  /** Bearer token → grant, for the FHIR server (auth/grants.ts). */
  grants: GrantLookup;
  counters: SimCounters;
  discovery: SimDiscovery;
}
