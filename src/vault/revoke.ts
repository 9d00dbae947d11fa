// Token revocation when a connection ends (RFC 7009): where the EHR advertises a
// `revocation_endpoint`, the refresh token is revoked first (it is the long-lived one, and
// revoking it ends the grant where the server supports that), then the access token. A failed
// revocation is logged and never blocks forgetting the tokens on our side.
import { revokeToken } from '../smart/index.ts';
import type { ConnectionRecord } from '../store/port.ts';
import { clientAuthFor } from './client-auth.ts';
import type { VaultDeps } from './deps.ts';
import { openTokens } from './token-set.ts';

/** Revocation calls are short: a slow EHR must not hold a DELETE for long. */
const REVOCATION_TIMEOUT_MS = 10_000;
/** Nor a spent budget: past this wait the tokens are forgotten without revoking them there. */
const BUDGET_WAIT_MS = 5_000;

export function createRevoker(deps: VaultDeps) {
  const { sealer, clock, logger } = deps;

  /** True when every token we held was revoked at the EHR; false when none could be (or none offered). */
  async function revokeAll(record: ConnectionRecord): Promise<boolean> {
    if (!record.sealedTokens) return false;
    try {
      const registration = deps.registrations[record.registration];
      if (!registration) return false;
      const config = await deps.discovery.discover(record.practiceBase);
      const endpoint = config.revocation_endpoint;
      if (!endpoint) return false;
      // The endpoint receives our client credentials and the refresh token: it must be on one
      // of the registration's authorization servers, like the token endpoint.
      const allowed = registration.authorizationServers;
      if (allowed.length > 0 && !allowed.includes(new URL(endpoint).origin)) {
        logger.warn(
          { connectionId: record.id, origin: new URL(endpoint).origin },
          'revocation endpoint is not on an allowed authorization server; not revoking there',
        );
        return false;
      }
      const tokens = openTokens(sealer, record.id, record.sealedTokens);
      const auth = await clientAuthFor(record.registration, registration, deps.keys);
      const order = [
        ...(tokens.refreshToken
          ? [{ token: tokens.refreshToken, tokenTypeHint: 'refresh_token' as const }]
          : []),
        { token: tokens.accessToken, tokenTypeHint: 'access_token' as const },
      ];
      const deadline = clock.now() + BUDGET_WAIT_MS;
      for (const { token, tokenTypeHint } of order) {
        const grant = await deps.budget.acquire(record.practiceBase, {
          priority: 'interactive',
          connectionId: record.id,
          deadline,
        });
        await revokeToken({
          revocationEndpoint: endpoint,
          tokenEndpoint: config.token_endpoint,
          auth,
          clock,
          fetch: deps.fetch,
          token,
          tokenTypeHint,
          timeoutMs: REVOCATION_TIMEOUT_MS,
        });
        // Answered (a refused revocation throws and keeps the slot, the safe side).
        void deps.budget.landed(grant, clock.now());
      }
      logger.info({ connectionId: record.id }, 'tokens revoked at the EHR');
      return true;
    } catch (error) {
      logger.warn(
        { connectionId: record.id, err: error },
        'token revocation at the EHR failed; forgetting the tokens anyway',
      );
      return false;
    }
  }

  return { revokeAll };
}
