// The simulator's HTTP server without the patient data parts: one fastify instance with the
// authorization server, discovery, the rate limit, faults, the admin API and healow-shaped errors.
// The FHIR and directory routes come in through `routes` (index.ts wires them), so this file can
// be tested with any PatientDirectory.

import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import { ADMIN_PREFIX, registerAdminRoutes } from './admin.ts';
import type { GrantStore } from './auth/grants.ts';
import { createAuthServer, createAuthState } from './auth/index.ts';
import type { SigningKeys } from './auth/keys.ts';
import { createRegistrationStore, type RegistrationStore } from './auth/registrations.ts';
import type {
  PatientDirectory,
  SimClock,
  SimPractice,
  SimUrls,
  SimulatorContext,
} from './context.ts';
import { createCounters } from './counters.ts';
import { createDiscovery, registerDiscoveryRoutes, registerMetadataRoute } from './discovery.ts';
import { createFaultInjector, type FaultInjector } from './faults.ts';
import { behaviourOf } from './fhir/profile.ts';
import type { SimulatorOptions } from './options.ts';
import { createRateLimiter } from './ratelimit.ts';
import { practiceCodeOf, routeKind, sendError } from './responses.ts';

export interface SimulatorServerDeps<Data extends PatientDirectory> {
  options: SimulatorOptions;
  clock: SimClock;
  /** Shared with the data part: the admin API disables a practice for both. */
  practices: Map<string, SimPractice>;
  data: Data;
  /** FHIR and directory routes (registered after the auth server and discovery). */
  routes?: (app: FastifyInstance, ctx: SimulatorContext<Data>) => void | Promise<void>;
  /** Extra admin routes, on an instance scoped to `/admin`; mounted only when admin is enabled. */
  adminRoutes?: (admin: FastifyInstance, ctx: SimulatorContext<Data>) => void | Promise<void>;
  /** For fetching client JWKS (tests may inject one); the global fetch by default. */
  fetch?: typeof fetch;
}

export interface SimulatorServer<Data extends PatientDirectory> {
  app: FastifyInstance;
  context: SimulatorContext<Data>;
  registrations: RegistrationStore;
  grants: GrantStore;
  keys: SigningKeys;
  faults: FaultInjector;
  /** Binds host:port from the options; resolves to the origin. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

function createUrls(origin: () => string): SimUrls {
  return {
    origin,
    fhirBase: (code) => `${origin()}/fhir/r4/${encodeURIComponent(code)}`,
    authorize: () => `${origin()}/oauth/oauth2/authorize`,
    token: () => `${origin()}/oauth/oauth2/token`,
    jwks: () => `${origin()}/oauth/oauth2/jwks`,
  };
}

function originOf(host: string, port: number): string {
  // A wildcard bind is still reached over loopback by the tests and the docs' curl walk.
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

export async function createSimulatorServer<Data extends PatientDirectory>(
  deps: SimulatorServerDeps<Data>,
): Promise<SimulatorServer<Data>> {
  const { options, clock, practices, data } = deps;
  let origin = options.publicUrl?.replace(/\/$/, '') ?? '';
  const urls = createUrls(() => origin);
  const quirks = options.quirks;
  const rateLimit = options.rateLimit;
  const counters = createCounters(clock, rateLimit);
  const { grants, keys } = await createAuthState({ clock });
  const registrations = createRegistrationStore(options.registrations);
  const discovery = createDiscovery(urls, quirks);
  const context: SimulatorContext<Data> = {
    options,
    clock,
    urls,
    practices,
    quirks,
    rateLimit,
    data,
    grants,
    counters,
    discovery,
  };
  const limiter = createRateLimiter({ clock, counters, rateLimit, quirks });
  const faults = createFaultInjector({ seed: options.seed, quirks });
  const auth = createAuthServer({
    ctx: context,
    registrations,
    grants,
    keys,
    limiter,
    ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
  });

  const app = Fastify({
    logger: options.logger
      ? {
          level: 'info',
          // Query strings carry codes and state: log paths only.
          serializers: {
            req: (req: { method: string; url: string }) => ({
              method: req.method,
              url: req.url.split('?')[0],
            }),
          },
        }
      : false,
    forceCloseConnections: true,
  });
  await app.register(formbody);

  // Practice checks and the rate limit for everything under a FHIR base, before any route.
  app.addHook('onRequest', async (request, reply) => {
    const code = practiceCodeOf(request.url);
    if (code === undefined) return;
    const practice = practices.get(code);
    if (!practice) return sendError(reply, 'fhir', 404, `Unknown practice ${code}`, quirks);
    if (practice.disabled) {
      return sendError(
        reply,
        'fhir',
        403,
        'Patient access is not enabled for this practice',
        quirks,
      );
    }
    const decision = limiter.take(code);
    if (!decision.allowed) {
      reply.headers(limiter.headers(decision));
      return sendError(reply, 'fhir', 429, 'Too many requests for this practice', quirks);
    }
  });
  faults.install(app);

  app.setErrorHandler((error: { statusCode?: number; message?: string }, request, reply) => {
    const raw = error.statusCode ?? 500;
    const status = raw >= 400 && raw < 600 ? raw : 500;
    const kind = routeKind(request.url);
    if (status >= 500) request.log.error({ err: error }, 'unexpected error');
    const message = status >= 500 ? 'Internal server error' : (error.message ?? 'Bad request');
    // RFC 6749 §5.2: the token endpoint answers every malformed request with invalid_request 400.
    return sendError(reply, kind, kind === 'token' && status < 500 ? 400 : status, message, quirks);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      routeKind(request.url),
      404,
      `No route for ${request.method} ${request.url.split('?')[0]}`,
      quirks,
    ),
  );

  auth.register(app);
  registerDiscoveryRoutes(app, discovery);

  let metadataServed = false;
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.includes('GET') && /^\/fhir\/r4\/:[^/]+\/metadata$/.test(route.url)) {
      metadataServed = true;
    }
  });
  await deps.routes?.(app, context);
  await app.after();
  if (!metadataServed) {
    registerMetadataRoute(app, discovery, () => behaviourOf(options.profile, quirks));
  }

  if (options.adminEnabled) {
    await app.register(
      async (admin) => {
        registerAdminRoutes(admin, { ctx: context, registrations, grants, keys, faults });
        await deps.adminRoutes?.(admin, context);
      },
      { prefix: ADMIN_PREFIX },
    );
  }

  return {
    app,
    context,
    registrations,
    grants,
    keys,
    faults,
    async listen() {
      await app.listen({ host: options.host, port: options.port });
      const address = app.server.address();
      if (address === null || typeof address === 'string') throw new Error('not a TCP address');
      if (!options.publicUrl) origin = originOf(options.host, address.port);
      return origin;
    },
    async close() {
      faults.releaseAll();
      await app.close();
    },
  };
}
