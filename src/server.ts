// A fhirbridge process in one of its roles: `api` (the HTTP app), `worker` (syncs, token
// refresh, webhooks and schedules, with only /healthz and /readyz on its port) or `all` (both, the
// embedded default). `close()` is the graceful shutdown: /readyz turns 503, requests in flight
// finish, running syncs stop at a checkpoint and go back to the queue, refreshes in flight finish.
// The runtime stays open for its owner to close.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Patient } from 'fhir/r4.js';
import { registerEventRoutes } from './api/events.ts';
import { registerFhirProxyRoutes } from './api/fhir-proxy.ts';
import { registerPracticeRoutes } from './api/practices.ts';
import { registerRecordLinkApi } from './api/record-links.ts';
import { registerResourceRoutes } from './api/resources.ts';
import { registerSyncRoutes } from './api/sync.ts';
import { registerWebhookEndpointRoutes } from './api/webhook-endpoints.ts';
import { registerWebhookRoutes } from './api/webhooks.ts';
import { createApp } from './app.ts';
import { type Background, startBackground } from './background.ts';
import { registerMetricsRoute } from './metrics/route.ts';
import { createReadiness, type Readiness, registerHealthRoutes } from './readiness.ts';
import type { Runtime } from './runtime.ts';
import { createRefreshScheduler } from './vault/index.ts';
import { registerAdminRoutes } from './web/admin/routes.ts';
import { registerPatientRecordPages } from './web/patient-record.ts';

export const ROLES = ['api', 'worker', 'all'] as const;
export type Role = (typeof ROLES)[number];

export interface RunningServer {
  role: Role;
  app: FastifyInstance;
  url: string;
  readiness: Readiness;
  /** The job worker, schedules and dispatcher; absent in the `api` role. */
  background: Background | undefined;
  close(): Promise<void>;
}

/** "Given Family" from a FHIR Patient's first usable name. */
export function displayName(patient: Patient): string | undefined {
  const name = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  if (!name) return undefined;
  return name.text ?? [...(name.given ?? []), name.family].filter(Boolean).join(' ');
}

export function buildApp(runtime: Runtime): FastifyInstance {
  const { vault, fhir } = runtime;
  const app = createApp({
    ...runtime,
    web: {
      async searchPractices(query, limit) {
        const usable = (await runtime.directory.searchPractices(query, limit * 3)).filter(
          (m) => m.practice.status === 'active',
        );
        return usable.slice(0, limit).map(({ practice: p }) => ({
          id: p.id,
          name: p.name,
          city: p.city,
          state: p.state,
          // A failed health check marks the practice on the connect page.
          available: p.health.discoveryOk !== false,
        }));
      },
      async readPatientName(connectionId) {
        const connection = await vault.get(connectionId);
        if (!connection.patientId) return undefined;
        const target = await runtime.fhirTarget(connectionId);
        return displayName(
          await fhir.read<Patient>(target, 'Patient', connection.patientId, {
            priority: 'interactive',
          }),
        );
      },
    },
    apiRoutes: [
      (api) => registerFhirProxyRoutes(api, runtime),
      (api) => registerPracticeRoutes(api, { practices: runtime.directory }),
      (api) => registerResourceRoutes(api, runtime),
      (api) => registerSyncRoutes(api, runtime),
      (api) => registerWebhookRoutes(api, runtime),
      (api) => registerWebhookEndpointRoutes(api, runtime),
      (api) => registerRecordLinkApi(api, runtime),
      (api) => registerEventRoutes(api, runtime),
      (api) => registerMetricsRoute(api, runtime.metrics),
    ],
    pageRoutes: [
      (pages) =>
        registerAdminRoutes(pages, {
          ...runtime,
          secureCookies: runtime.config.publicUrl.startsWith('https://'),
        }),
      (pages) => registerPatientRecordPages(pages, runtime),
    ],
  });
  return app;
}

export async function startServer(
  runtime: Runtime,
  { host, port, role = 'all' }: { host: string; port: number; role?: Role },
): Promise<RunningServer> {
  const readiness = createReadiness({ checks: runtime.checks, clock: runtime.clock });
  // A worker serves nothing but its health, so that an orchestrator can probe it like the API.
  const app = role === 'worker' ? Fastify() : buildApp(runtime);
  registerHealthRoutes(app, readiness);
  const works = role !== 'api';
  const scheduler = works
    ? createRefreshScheduler({
        vault: runtime.vault,
        store: runtime.store,
        clock: runtime.clock,
        logger: runtime.logger,
        leewayMs: runtime.config.refresh.leewayMs,
        intervalMs: runtime.config.refresh.intervalMs,
      })
    : undefined;
  await app.listen({ host, port });
  scheduler?.start();
  const background = works ? startBackground(runtime) : undefined;
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  let closing: Promise<void> | undefined;
  return {
    role,
    app,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`,
    readiness,
    background,
    close() {
      closing ??= (async () => {
        readiness.drain();
        // All at once: the HTTP app finishes its requests while the worker hands its jobs back.
        await Promise.all([background?.close(), scheduler?.close(), app.close()]);
      })();
      return closing;
    },
  };
}
