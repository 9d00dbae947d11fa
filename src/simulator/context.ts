// What the simulator's parts share: its options, its clock, its practices, the patient data and
// the grants behind access tokens. The simulator shares nothing with the client side of
// fhirbridge (src/common included) but FHIR types, so that it checks the client instead of
// agreeing with it.

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

/** healow's quirks and the unconfirmed variants of the brief, each a switch. */
export interface SimQuirks {
  /** `Observation?patient=X` without `category` → 400 OperationOutcome. Default true. */
  observationNeedsCategory: boolean;
  /** CarePlan search without `category` → 400. Default true. */
  carePlanNeedsCategory: boolean;
  /** CareTeam search without `status` → 400. Default true. */
  careTeamNeedsStatus: boolean;
  /** An empty searchset has no `entry` array. Default true. */
  emptyBundleWithoutEntry: boolean;
  /** `Bundle.total` is wrong (not the real count). Default true. */
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
