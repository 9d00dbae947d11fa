// The HTTP server of fhirbridge: the app on a port plus the background refresher. `close()`
// stops both; the runtime stays open for its owner to close.
import type { FastifyInstance } from 'fastify';
import type { Patient } from 'fhir/r4.js';
import { createApp } from './api/app.ts';
import { registerFhirProxyRoutes } from './api/fhir-proxy.ts';
import { registerPracticeRoutes } from './api/practices.ts';
import { registerResourceRoutes } from './api/resources.ts';
import { registerSyncRoutes } from './api/sync.ts';
import { registerWebhookRoutes } from './api/webhooks.ts';
import { startBackground } from './background.ts';
import type { Runtime } from './runtime.ts';
import { createRefreshScheduler } from './vault/index.ts';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
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
  return createApp({
    ...runtime,
    web: {
      async searchPractices(query, limit) {
        const usable = (await runtime.directory.searchPractices(query, limit * 3)).filter(
          (m) => m.practice.status === 'active',
        );
        return usable
          .slice(0, limit)
          .map(({ practice: p }) => ({ id: p.id, name: p.name, city: p.city, state: p.state }));
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
    ],
  });
}

export async function startServer(
  runtime: Runtime,
  { host, port }: { host: string; port: number },
): Promise<RunningServer> {
  const app = buildApp(runtime);
  const scheduler = createRefreshScheduler({
    vault: runtime.vault,
    store: runtime.store,
    clock: runtime.clock,
    logger: runtime.logger,
    leewayMs: runtime.config.refresh.leewayMs,
    intervalMs: runtime.config.refresh.intervalMs,
  });
  await app.listen({ host, port });
  scheduler.start();
  const background = startBackground(runtime);
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    app,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`,
    async close() {
      await background.close();
      await scheduler.close();
      await app.close();
    },
  };
}
