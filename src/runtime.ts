// Wiring, once: config → store → keys → vault → budget → FHIR client. The server, the CLI and
// the tests all build a Runtime; everything it opens, `close()` closes.
import { openBudget } from './budget/index.ts';
import type { Budget } from './budget/port.ts';
import { type Clock, systemClock } from './common/clock.ts';
import { BridgeError } from './common/errors.ts';
import { createLogger, type Logger } from './common/logger.ts';
import { isLoopback } from './common/net.ts';
import { createSealer, type Sealer } from './common/seal.ts';
import { resolveMasterKeys } from './config/master-key.ts';
import type { Config } from './config/schema.ts';
import { createEventLog, type EventLog } from './events/log.ts';
import { createWebhooks, type Webhooks } from './events/webhooks.ts';
import { createFhirClient, type FhirClient, type FhirTarget, profileFor } from './fhir/index.ts';
import { type JobBackend, type JobQueue, openJobBackend } from './jobs/index.ts';
import { createKeyService, type KeyService } from './keys/index.ts';
import {
  countConnectionStates,
  createMetrics,
  observeBudget,
  observeRefreshes,
  observeWebhookStore,
  type RuntimeMetrics,
} from './metrics/index.ts';
import {
  createPracticeService,
  createStoreRegistry,
  type PracticeService,
} from './practices/index.ts';
import type { PracticeRegistry } from './practices/registry.ts';
import { createDiscovery, createIdTokenValidator } from './smart/index.ts';
import { openStore, storeConfigOf } from './store/index.ts';
import type { ConnectionRecord, Store } from './store/port.ts';
import { createVault, type Vault } from './vault/index.ts';

export interface RuntimeOptions {
  config: Config;
  clock?: Clock;
  logger?: Logger;
  /** The fetch used for every upstream call (tests may wrap it to count or fail calls). */
  fetch?: typeof fetch;
}

export interface Runtime {
  config: Config;
  clock: Clock;
  logger: Logger;
  sealer: Sealer;
  store: Store;
  keys: KeyService;
  practices: PracticeRegistry;
  /** The endpoint directory: import, search, add, health. */
  directory: PracticeService;
  budget: Budget;
  events: EventLog;
  vault: Vault;
  fhir: FhirClient;
  /** The job queue (syncs); its worker runs in startServer and the `sync` command. */
  jobs: JobQueue;
  /** What /readyz pings, by name: the store, and each other dependency this process opened. */
  checks: Record<string, () => Promise<unknown>>;
  /** The webhook outbox; its dispatcher runs in startServer. */
  webhooks: Webhooks;
  /** Prometheus metrics of this runtime (`GET /metrics`). */
  metrics: RuntimeMetrics;
  /**
   * How the FHIR client reaches a connection's practice with its tokens. `read` is the
   * connection's row as the caller's request just read it (so that a request reads it once).
   */
  fhirTarget(connectionId: string, read?: ConnectionRecord): Promise<FhirTarget>;
  close(): Promise<void>;
}

export async function createRuntime({
  config,
  clock = systemClock,
  logger,
  fetch,
}: RuntimeOptions): Promise<Runtime> {
  const log = logger ?? createLogger({ level: config.logLevel });
  const sealer = createSealer(resolveMasterKeys(config).keys);
  const store = await openStore(storeConfigOf(config));
  let jobBackend: JobBackend | undefined;
  // The budget holds a handle on the SQLite file (or Redis): closed too if wiring fails later.
  let openedBudget: Budget | undefined;
  try {
    const keys = createKeyService({
      repo: store.keys,
      sealer,
      clock,
      publishDelayMs: config.keys.publishDelayMs,
      retireGraceMs: config.keys.retireGraceMs,
    });
    for (const [name, registration] of Object.entries(config.registrations)) {
      if (registration.clientType === 'confidential-asymmetric')
        await keys.ensure(registration.keyring ?? name);
    }
    const metrics = createMetrics();
    openedBudget = await openBudget({ config, clock });
    const budget = observeBudget(openedBudget, metrics, clock);
    const discoveryFetch = budgetedDiscovery(budget, fetch ?? globalThis.fetch, clock);
    // The practices we may call: config ones (mirrored into the store) plus the directory's and
    // the operator's, never a vanished or disabled one.
    const directory = createPracticeService({
      repo: store.practices,
      clock,
      allowLoopbackHttp: config.allowLoopbackHttp,
      configPractices: config.practices,
      registrations: Object.keys(config.registrations),
      fetch: discoveryFetch,
    });
    await directory.syncConfigPractices();
    const practices = createStoreRegistry({ repo: store.practices, config });
    const events = createEventLog({ store, clock, logger: log });
    const vault = createVault({
      store,
      sealer,
      clock,
      logger: log,
      keys,
      discovery: createDiscovery({ clock, fetch: discoveryFetch }),
      idTokens: createIdTokenValidator({ clock, ...(fetch ? { fetch } : {}) }),
      practices,
      registrations: config.registrations,
      events,
      budget,
      publicUrl: config.publicUrl,
      fetch: observeRefreshes(fetch ?? globalThis.fetch, metrics),
      refreshLeewayMs: config.refresh.leewayMs,
    });
    const fhir = createFhirClient({
      budget,
      clock,
      logger: log,
      metrics,
      ...(fetch ? { fetch } : {}),
    });
    jobBackend = await openJobBackend({
      config: config.sync,
      repo: store.jobs,
      clock,
      redisUrl: config.redis?.url,
      logger: log,
    });
    const jobs = jobBackend.queue;
    const closeJobs = jobBackend.close;
    const webhooks = createWebhooks({
      config,
      store: observeWebhookStore(store, metrics),
      clock,
      logger: log,
      sealer,
    });
    metrics.observe({ budget, connectionStates: () => countConnectionStates(store.connections) });

    return {
      config,
      clock,
      logger: log,
      sealer,
      store,
      keys,
      practices,
      directory,
      budget,
      events,
      vault,
      fhir,
      jobs,
      metrics,
      checks: {
        // A primary-key read: cheap on every store, and it fails when the store is unusable.
        store: () => store.jobs.get('readiness-probe'),
        ...jobBackend.checks,
      },
      webhooks,
      async fhirTarget(connectionId, read) {
        const connection = read ?? (await vault.get(connectionId));
        const practice = await practices.byBase(connection.practiceBase);
        if (!practice) {
          throw new BridgeError(
            'not_found',
            `the practice of connection ${connectionId} is no longer configured`,
          );
        }
        return {
          base: practice.base,
          practiceKey: practice.base,
          connectionId,
          profile: profileFor(practice.vendor),
          tokens: vault.tokenSource(connectionId, connection),
          allowHttp: config.allowLoopbackHttp && isLoopback(new URL(practice.base).hostname),
        };
      },
      async close() {
        await budget.close();
        await closeJobs();
        await store.close();
      },
    };
  } catch (error) {
    await openedBudget?.close();
    await jobBackend?.close();
    await store.close();
    throw error;
  }
}

const DISCOVERY_PATH = /\/(\.well-known\/smart-configuration|metadata)$/;

/**
 * healow counts every call to a practice base, discovery included, so discovery requests are
 * spent from the practice's budget like FHIR calls (key: the base, as for the FHIR client).
 * Other requests through this fetch (a directory download) pass straight through.
 */
export function budgetedDiscovery(
  budget: Budget,
  inner: typeof fetch,
  clock: Clock = systemClock,
): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const path = url.split('?')[0] ?? url;
    if (!DISCOVERY_PATH.test(path)) return inner(input, init);
    const grant = await budget.acquire(path.replace(DISCOVERY_PATH, ''), {
      priority: 'interactive',
    });
    const res = await inner(input, init);
    // Answered: the budget learns in which window the call arrived.
    void budget.landed(grant, clock.now());
    return res;
  };
}
