// The shared authorization server of every practice: `/oauth/oauth2/{authorize,token,jwks}`
// plus the login and consent pages. Owns registrations, grants and the id_token keys.

import type { FastifyInstance } from 'fastify';
import type { SimulatorContext } from '../context.ts';
import type { RateLimiter } from '../ratelimit.ts';
import { registerAuthorizeRoutes } from './authorize.ts';
import { createAssertionVerifier } from './client-assertion.ts';
import { createClientJwksCache } from './client-jwks.ts';
import type { AuthDeps } from './deps.ts';
import { createGrantStore, type GrantStore } from './grants.ts';
import { createSigningKeys, type SigningKeys } from './keys.ts';
import { createPendingStore } from './pending.ts';
import type { RegistrationStore } from './registrations.ts';
import { registerRevocationRoute } from './revoke.ts';
import { registerTokenRoute } from './token.ts';

export interface AuthServer {
  registrations: RegistrationStore;
  grants: GrantStore;
  keys: SigningKeys;
  /** Mounts the authorization server's routes. */
  register(app: FastifyInstance): void;
}

/** Builds the grant store first: the context needs it (as GrantLookup) before the routes exist. */
export async function createAuthState(
  ctx: Pick<SimulatorContext, 'clock'>,
): Promise<{ grants: GrantStore; keys: SigningKeys }> {
  return { grants: createGrantStore(ctx.clock), keys: await createSigningKeys(ctx.clock) };
}

export function createAuthServer(deps: {
  ctx: SimulatorContext;
  registrations: RegistrationStore;
  grants: GrantStore;
  keys: SigningKeys;
  limiter: RateLimiter;
  fetch?: typeof fetch;
}): AuthServer {
  const { ctx, registrations, grants, keys, limiter } = deps;
  const jwks = createClientJwksCache({
    clock: ctx.clock,
    ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
  });
  const assertions = createAssertionVerifier({
    clock: ctx.clock,
    jwks,
    tokenUrl: () => ctx.urls.token(),
    jwksUrlOf: (clientId) => {
      const registration = registrations.get(clientId);
      return registration?.type === 'confidential-asymmetric' ? registration.jwksUrl : undefined;
    },
  });
  const authDeps: AuthDeps = {
    ctx,
    registrations,
    grants,
    keys,
    limiter,
    assertions,
    pending: createPendingStore(ctx.clock),
  };
  return {
    registrations,
    grants,
    keys,
    register(app) {
      registerAuthorizeRoutes(app, authDeps);
      registerTokenRoute(app, authDeps);
      registerRevocationRoute(app, authDeps);
      app.get('/oauth/oauth2/jwks', (_request, reply) =>
        reply.type('application/json;charset=UTF-8').send(keys.jwks()),
      );
    },
  };
}
