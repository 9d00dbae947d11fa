// The fastify app: JWKS, the launch and callback of the SMART flow, the JSON API (API keys),
// the patient pages. `createApp(deps)` opens nothing itself; main wires and listens.
import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { z } from 'zod';
import { connectionFor } from './access/ownership.ts';
import {
  assertAccess,
  authenticateApiKey,
  callerOf,
  registerApiKeyRoutes,
} from './api/api-keys.ts';
import { registerConnectionRoutes } from './api/connections.ts';
import { describeRoutes, registerOpenApiRoutes } from './api/openapi.ts';
import type { Budget } from './budget/port.ts';
import type { Clock } from './common/clock.ts';
import { BridgeError } from './common/errors.ts';
import type { Logger } from './common/logger.ts';
import { parse } from './common/validate.ts';
import type { Config } from './config/schema.ts';
import { browserSecret, ensureBrowserSecret } from './http/browser.ts';
import { installErrorHandling } from './http/errors.ts';
import type { KeyService } from './keys/index.ts';
import type { PracticeRegistry } from './practices/registry.ts';
import type { ConnectionRecord, Store } from './store/port.ts';
import type { Vault } from './vault/index.ts';
import { createErrorPage, registerWebRoutes, type WebDeps } from './web/routes.ts';
import { createSignInGuard } from './web/sign-in-guard.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The connection of a `/api/connections/:id…` route, as the ownership check read it. */
    ownedConnection?: ConnectionRecord;
  }
}

export interface AppDeps {
  config: Config;
  store: Store;
  clock: Clock;
  logger: Logger;
  keys: KeyService;
  vault: Vault;
  practices: PracticeRegistry;
  budget: Budget;
  web: Pick<WebDeps, 'readPatientName' | 'searchPractices'>;
  /** Extra route sets (the FHIR proxy) registered inside the API-key scope. */
  apiRoutes?: Array<(app: FastifyInstance) => void>;
  /** Extra route sets (the dashboard, the record pages) registered inside the pages' scope. */
  pageRoutes?: Array<(app: FastifyInstance) => void>;
}

const stateParams = z.object({
  state: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'is not a sign-in state'),
});
const registrationParams = z.object({ registration: z.string().regex(/^[a-z0-9-]{1,32}$/) });
const CONNECTION_ID = /^con_[A-Za-z0-9_-]{10,64}$/;

/**
 * One log line per request, when it completes, instead of fastify's two (incoming and
 * completed): each line costs a serialization and a pass of the redaction paths, a fair share of
 * a proxied read's CPU. Fastify's error lines stay as they are.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const line = { req: request, status: reply.statusCode, ms: round(reply.elapsedTime) };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}

/** The version of the JSON API's contract (`/openapi.json`). */
export const API_VERSION = '1.0.0';

const round = (ms: number) => Math.round(ms * 10) / 10;

export function createApp(deps: AppDeps): FastifyInstance {
  const { config, keys, vault, store, clock } = deps;
  const secureCookies = config.publicUrl.startsWith('https://');
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: 1024 * 1024,
    trustProxy: config.trustProxy,
    // With a log controller, fastify takes the request id's label from it, not from the options.
    logController: new OneLinePerRequest({ requestIdLogLabel: 'requestId' }),
    // Every log line of a request carries its id, and the answer names it (X-Request-Id): a
    // caller's own id is kept when it is a plain token, so its logs and ours line up.
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(given)
        ? given
        : randomUUID();
    },
  }) as unknown as FastifyInstance;

  installErrorHandling(app, {
    errorPage: createErrorPage({ logger: deps.logger, events: store.events, clock }),
  });
  // Set on arrival, not on sending: an error answer keeps the reply's headers, and a hook on
  // arrival with a callback costs a request no promise.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  const described = describeRoutes(app);
  app.register(formbody);
  app.decorateRequest('apiKey', undefined);
  app.decorateRequest('ownedConnection', undefined);
  const signIns = createSignInGuard({ clock, store, limits: config.signIn });

  app.get('/healthz', async () => ({ status: 'ok' }));

  // JWKS that healow fetches from the registered URL, over public HTTPS.
  const jwksOf = async (registration: string) => {
    const r = config.registrations[registration];
    if (!r) throw new BridgeError('not_found', `no registration "${registration}"`);
    return keys.jwks(r.keyring ?? registration);
  };
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    reply.header('cache-control', 'public, max-age=300');
    return jwksOf(config.defaultRegistration);
  });
  app.get('/jwks/:registration.json', async (request, reply) => {
    const { registration } = parse(registrationParams, request.params, 'path');
    reply.header('cache-control', 'public, max-age=300');
    return jwksOf(registration);
  });

  app.register(async (api) => {
    // Who may call what is settled before the body is even read.
    api.addHook('onRequest', async (request) => {
      request.apiKey = await authenticateApiKey(request, store, clock);
      assertAccess(request);
      // Every route of one connection, whichever file registers it, answers only its app's
      // key: checked here once rather than in each handler, so that a new route cannot forget it.
      if (!request.routeOptions.url?.startsWith('/api/connections/:id')) return;
      const { id } = request.params as { id?: unknown };
      // A malformed id is the route's own 400. The row read here is the request's: a handler
      // that needs the connection takes it from `request.ownedConnection` instead of reading again.
      if (typeof id === 'string' && CONNECTION_ID.test(id)) {
        request.ownedConnection = await connectionFor(store, callerOf(request), id);
      }
    });
    registerConnectionRoutes(api, deps);
    registerApiKeyRoutes(api, { store, clock });
    api.get('/api/budget', async () => deps.budget.usageAll());
    for (const routes of deps.apiRoutes ?? []) routes(api);
  });
  registerOpenApiRoutes(app, described, { serverUrl: config.publicUrl, version: API_VERSION });

  // The pages' scope: the cookie parser and the pages' own hooks run on their routes, not on
  // every API call (a proxied read runs none of them).
  app.register(async (pages) => {
    pages.register(cookie);
    // The authorizeUrl the API hands out points here: bind the browser, then go to the EHR.
    pages.get('/launch/:state', async (request, reply) => {
      const { state } = parse(stateParams, request.params, 'path');
      signIns.admitRequest('launch', request, reply);
      const secret = ensureBrowserSecret(request, reply, secureCookies);
      return reply.redirect(await vault.launch(state, secret), 302);
    });

    pages.get('/callback', async (request, reply) => {
      const result = await vault.callback(
        request.query as Record<string, unknown>,
        browserSecret(request),
      );
      const target = new URL(result.returnTo ?? `${config.publicUrl}/connect/done`);
      target.searchParams.set('connection', result.connection.id);
      target.searchParams.set('outcome', result.outcome);
      return reply.redirect(target.href, 302);
    });

    registerWebRoutes(pages, {
      ...deps.web,
      vault,
      practices: deps.practices,
      config,
      secureCookies,
      signIns,
    });
    for (const routes of deps.pageRoutes ?? []) routes(pages);
  });
  return app;
}
