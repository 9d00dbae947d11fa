// What the patient granted and the credentials that stand for it: authorization codes (60 s,
// single-use), grants (one per code exchange), access tokens (opaque, 1 h) and refresh tokens
// (90 days fixed from the first grant; rotated or kept by the `refreshTokens` quirk).

import { randomBytes } from 'node:crypto';
import type { GrantLookup, SimClock, SimGrant } from '../context.ts';

/** RFC 6749 §4.1.2: codes are short-lived; healow's live 60 s. */
export const CODE_LIFETIME_MS = 60_000;
/** healow: a fixed 90-day refresh token life, counted from the first grant, not from each refresh. */
export const REFRESH_LIFETIME_MS = 90 * 24 * 60 * 60 * 1000;

/** An opaque random credential (256 bits, base64url). */
export function opaqueToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What the patient approved on the consent page, bound into the code. */
export interface ApprovedRequest {
  clientId: string;
  redirectUri: string;
  practiceCode: string;
  patientId: string;
  username: string;
  scopes: string[];
  /** PKCE S256 code_challenge (RFC 7636 §4.2). */
  codeChallenge: string;
  nonce?: string;
}

export interface AuthorizationCode extends ApprovedRequest {
  expiresAt: number;
  used: boolean;
}

/** One consent: the chain of tokens started by one code exchange. */
export interface Grant {
  id: string;
  clientId: string;
  practiceCode: string;
  patientId: string;
  username: string;
  scopes: string[];
  nonce?: string;
  createdAt: number;
  /** Fixed at the first grant: refreshes never extend it. */
  refreshExpiresAt: number;
  revoked: boolean;
}

interface AccessTokenRecord {
  grantId: string;
  scopes: string[];
  expiresAt: number;
}

interface RefreshTokenRecord {
  grantId: string;
  scopes: string[];
  /** False once rotated away (single-use). */
  active: boolean;
}

export interface RevokeFilter {
  clientId: string;
  patientId?: string;
  /** A test patient's login name, e.g. AdultFemaleFHIR (any practice unless practiceCode is set). */
  username?: string;
  practiceCode?: string;
}

export interface GrantStore extends GrantLookup {
  issueCode(request: ApprovedRequest): string;
  /** The code's record, used or not; undefined when never issued or pruned. */
  findCode(code: string): AuthorizationCode | undefined;
  /** Marks the code used (single-use) and starts a grant. */
  redeemCode(record: AuthorizationCode): Grant;
  issueAccessToken(grant: Grant, scopes: string[], lifetimeS: number): string;
  issueRefreshToken(grant: Grant, scopes: string[]): string;
  findRefreshToken(token: string): { record: RefreshTokenRecord; grant: Grant } | undefined;
  /** Single-use rotation: the old refresh token stops working. */
  retireRefreshToken(token: string): void;
  /** Revokes the patient's consent: access tokens stop at once, refreshes fail. Returns the count. */
  revoke(filter: RevokeFilter): number;
  /**
   * RFC 7009 revocation by a client of one of its own tokens: a refresh token ends its whole
   * grant (§2.1), an access token only itself. False when the token is unknown or not the client's.
   */
  revokeToken(token: string, clientId: string): boolean;
  grants(): Grant[];
}

export function createGrantStore(clock: SimClock): GrantStore {
  const codes = new Map<string, AuthorizationCode>();
  const grants = new Map<string, Grant>();
  const accessTokens = new Map<string, AccessTokenRecord>();
  const refreshTokens = new Map<string, RefreshTokenRecord>();
  let issuedSincePrune = 0;

  // Keeps memory flat in long benchmark runs: expired codes and access tokens are dropped.
  const maybePrune = (): void => {
    issuedSincePrune += 1;
    if (issuedSincePrune < 1000) return;
    issuedSincePrune = 0;
    const now = clock.now();
    for (const [k, v] of codes) if (v.expiresAt + CODE_LIFETIME_MS < now) codes.delete(k);
    for (const [k, v] of accessTokens) if (v.expiresAt < now) accessTokens.delete(k);
  };

  return {
    issueCode(request) {
      const code = opaqueToken();
      codes.set(code, { ...request, expiresAt: clock.now() + CODE_LIFETIME_MS, used: false });
      maybePrune();
      return code;
    },
    findCode: (code) => codes.get(code),
    redeemCode(record) {
      record.used = true;
      const now = clock.now();
      const grant: Grant = {
        id: opaqueToken(),
        clientId: record.clientId,
        practiceCode: record.practiceCode,
        patientId: record.patientId,
        username: record.username,
        scopes: record.scopes,
        ...(record.nonce === undefined ? {} : { nonce: record.nonce }),
        createdAt: now,
        refreshExpiresAt: now + REFRESH_LIFETIME_MS,
        revoked: false,
      };
      grants.set(grant.id, grant);
      return grant;
    },
    issueAccessToken(grant, scopes, lifetimeS) {
      const token = opaqueToken();
      accessTokens.set(token, {
        grantId: grant.id,
        scopes,
        expiresAt: clock.now() + lifetimeS * 1000,
      });
      maybePrune();
      return token;
    },
    issueRefreshToken(grant, scopes) {
      const token = opaqueToken();
      refreshTokens.set(token, { grantId: grant.id, scopes, active: true });
      return token;
    },
    findRefreshToken(token) {
      const record = refreshTokens.get(token);
      const grant = record && grants.get(record.grantId);
      return record && grant ? { record, grant } : undefined;
    },
    retireRefreshToken(token) {
      const record = refreshTokens.get(token);
      if (record) record.active = false;
    },
    revoke(filter) {
      let count = 0;
      for (const grant of grants.values()) {
        if (grant.revoked || grant.clientId !== filter.clientId) continue;
        if (filter.patientId !== undefined && grant.patientId !== filter.patientId) continue;
        if (filter.username !== undefined && grant.username !== filter.username) continue;
        if (filter.practiceCode !== undefined && grant.practiceCode !== filter.practiceCode)
          continue;
        grant.revoked = true;
        count += 1;
      }
      // Codes not yet exchanged belong to the same consent.
      for (const code of codes.values()) {
        if (code.used || code.clientId !== filter.clientId) continue;
        if (filter.patientId !== undefined && code.patientId !== filter.patientId) continue;
        if (filter.username !== undefined && code.username !== filter.username) continue;
        if (filter.practiceCode !== undefined && code.practiceCode !== filter.practiceCode)
          continue;
        code.used = true;
        count += 1;
      }
      return count;
    },
    revokeToken(token, clientId) {
      const refresh = refreshTokens.get(token);
      const access = refresh ? undefined : accessTokens.get(token);
      const grant = grants.get(refresh?.grantId ?? access?.grantId ?? '');
      if (!grant || grant.clientId !== clientId) return false;
      if (refresh) grant.revoked = true;
      else accessTokens.delete(token);
      return true;
    },
    grants: () => [...grants.values()],
    introspect(practiceCode, accessToken): SimGrant | undefined {
      const record = accessTokens.get(accessToken);
      if (!record || record.expiresAt <= clock.now()) return undefined;
      const grant = grants.get(record.grantId);
      if (!grant || grant.revoked || grant.practiceCode !== practiceCode) return undefined;
      return {
        clientId: grant.clientId,
        practiceCode: grant.practiceCode,
        patientId: grant.patientId,
        scopes: [...record.scopes],
        expiresAt: record.expiresAt,
      };
    },
  };
}
