// Prometheus metrics: one registry per runtime (never prom-client's global one, so two runtimes
// in one process, as in the tests, count apart). The parts that do the work call the small
// `Metrics` interface; gauges that are a state (budget use, connection states) are read when
// scraped rather than tracked.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Budget } from '../budget/port.ts';
import type { Clock } from '../common/clock.ts';
import { isBridgeError } from '../common/errors.ts';

/** What an upstream FHIR call ended as: its status class, or no answer at all. */
export type CallOutcome = '2xx' | '3xx' | '4xx' | '5xx' | 'network';

/** What a refresh token call ended as. */
export type RefreshOutcome = 'refreshed' | 'rejected' | 'failed' | 'unanswered';

export interface Metrics {
  readonly registry: Registry;
  /** One HTTP call to a practice's FHIR base (`practice` is the base URL, as budgets key it). */
  fhirCall(practice: string, status: number | 'network'): void;
  /** An upstream 429 from a practice. */
  rateLimited(practice: string): void;
  /** How long a caller waited for a budget slot, and whether it got one. */
  budgetWait(practice: string, priority: string, ms: number, granted: boolean): void;
  refresh(outcome: RefreshOutcome): void;
  /** A sync run that ended: its outcome (`succeeded`, `partial`, `failed`, …) and duration. */
  syncRun(outcome: string, ms: number): void;
  /** One webhook delivery attempt: `delivered`, `retry` or `dead`. */
  webhookDelivery(outcome: string): void;
}

/** Where scrape-time gauges read from. */
export interface MetricSources {
  budget?: Pick<Budget, 'usageAll'>;
  /** Connections per state, counted when scraped. */
  connectionStates?: () => Promise<Record<string, number>>;
}

export function statusClass(status: number): CallOutcome {
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  if (status >= 300) return '3xx';
  return '2xx';
}

/** The metrics of a runtime: the interface, and where its scrape-time gauges read from. */
export interface RuntimeMetrics extends Metrics {
  /** Gives the scrape-time gauges their sources (once the runtime has built them). */
  observe(sources: MetricSources): void;
}

export function createMetrics({
  registry = new Registry(),
}: {
  registry?: Registry;
} = {}): RuntimeMetrics {
  const sources: MetricSources = {};
  const calls = new Counter({
    name: 'fhirbridge_fhir_calls_total',
    help: 'HTTP calls to practice FHIR bases, by practice base and outcome (status class or network)',
    labelNames: ['practice', 'outcome'],
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'fhirbridge_upstream_429_total',
    help: 'Upstream 429 answers, by practice base',
    labelNames: ['practice'],
    registers: [registry],
  });
  const waits = new Histogram({
    name: 'fhirbridge_budget_wait_seconds',
    help: 'Time spent waiting for a budget slot, by practice base, priority and result',
    labelNames: ['practice', 'priority', 'result'],
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 15, 30, 60, 120],
    registers: [registry],
  });
  const refreshes = new Counter({
    name: 'fhirbridge_token_refreshes_total',
    help: 'Refresh token calls, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const syncs = new Histogram({
    name: 'fhirbridge_sync_duration_seconds',
    help: 'Sync runs that ended, by outcome',
    labelNames: ['outcome'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  const webhooks = new Counter({
    name: 'fhirbridge_webhook_deliveries_total',
    help: 'Webhook delivery attempts, by outcome (delivered, retry, dead)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  new Gauge({
    name: 'fhirbridge_budget_utilization_ratio',
    help: "Calls spent in the practice's current budget window over its limit",
    labelNames: ['practice'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const u of (await sources.budget?.usageAll()) ?? []) {
        this.set({ practice: u.practice }, u.limit > 0 ? u.used / u.limit : 0);
      }
    },
  });
  new Gauge({
    name: 'fhirbridge_budget_waiting',
    help: 'Callers waiting for a budget slot now, by practice base',
    labelNames: ['practice'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const u of (await sources.budget?.usageAll()) ?? []) {
        const waiting = Object.values(u.waiting).reduce((a, b) => a + b, 0);
        this.set({ practice: u.practice }, waiting);
      }
    },
  });
  new Gauge({
    name: 'fhirbridge_connections',
    help: 'Connections, by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [state, count] of Object.entries((await sources.connectionStates?.()) ?? {})) {
        this.set({ state }, count);
      }
    },
  });

  return {
    registry,
    observe(given) {
      Object.assign(sources, given);
    },
    fhirCall: (practice, status) =>
      calls.inc({ practice, outcome: status === 'network' ? status : statusClass(status) }),
    rateLimited: (practice) => rateLimited.inc({ practice }),
    budgetWait: (practice, priority, ms, granted) =>
      waits.observe({ practice, priority, result: granted ? 'granted' : 'refused' }, ms / 1000),
    refresh: (outcome) => refreshes.inc({ outcome }),
    syncRun: (outcome, ms) => syncs.observe({ outcome }, ms / 1000),
    webhookDelivery: (outcome) => webhooks.inc({ outcome }),
  };
}

/**
 * `target` with some members replaced. A Proxy rather than a spread, so that a class instance
 * (private fields, prototype methods) keeps working: other members are bound to the original.
 */
export function withOverrides<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, key) {
      if (Object.hasOwn(overrides, key)) return overrides[key as keyof T];
      const value = Reflect.get(t, key, t);
      return typeof value === 'function' ? value.bind(t) : value;
    },
  });
}

/** The budget, timing each wait for a slot and counting each upstream 429 reported to it. */
export function observeBudget<B extends Budget>(budget: B, metrics: Metrics, clock: Clock): B {
  return withOverrides(budget, {
    async acquire(practice, options) {
      const started = clock.now();
      try {
        const grant = await budget.acquire(practice, options);
        metrics.budgetWait(practice, options.priority, clock.now() - started, true);
        return grant;
      } catch (error) {
        metrics.budgetWait(practice, options.priority, clock.now() - started, false);
        throw error;
      }
    },
    async reportRateLimited(practice, info) {
      metrics.rateLimited(practice);
      return budget.reportRateLimited(practice, info);
    },
  } as Partial<B>);
}

/**
 * The fetch the vault makes its token calls with, counting refresh_token grants by outcome: the
 * grant is recognised by its form body (RFC 6749 §6), so the vault needs no change to be counted.
 */
export function observeRefreshes(inner: typeof fetch, metrics: Metrics): typeof fetch {
  return async (input, init) => {
    const body = init?.body;
    const refresh = body instanceof URLSearchParams && body.get('grant_type') === 'refresh_token';
    if (!refresh) return inner(input, init);
    let response: Response;
    try {
      response = await inner(input, init);
    } catch (error) {
      metrics.refresh('unanswered');
      throw error;
    }
    metrics.refresh(response.ok ? 'refreshed' : response.status < 500 ? 'rejected' : 'failed');
    return response;
  };
}

/** A sync runner whose runs are timed and counted by how they ended. */
export function observeSyncRuns<
  S extends { run(id: string, ...rest: never[]): Promise<{ outcome: string }> },
>(engine: S, metrics: Metrics, clock: Clock): S {
  return withOverrides(engine, {
    async run(id: string, ...rest: never[]) {
      const started = clock.now();
      try {
        const result = await engine.run(id, ...rest);
        metrics.syncRun(result.outcome, clock.now() - started);
        return result;
      } catch (error) {
        const outcome = isBridgeError(error, 'not_found') ? 'not_found' : 'failed';
        metrics.syncRun(outcome, clock.now() - started);
        throw error;
      }
    },
  } as Partial<S>);
}

/** The webhook outbox's store, counting each attempt the dispatcher records, by outcome. */
export function observeWebhookDeliveries<
  W extends { recordAttempt(id: string, outcome: { kind: string }): Promise<unknown> },
>(webhooks: W, metrics: Metrics): W {
  return withOverrides(webhooks, {
    async recordAttempt(id: string, outcome: { kind: string }) {
      const recorded = await webhooks.recordAttempt(id, outcome as never);
      metrics.webhookDelivery(outcome.kind);
      return recorded;
    },
  } as Partial<W>);
}

/** A store whose webhook outbox counts delivery attempts (the dispatcher records each one). */
export function observeWebhookStore<
  S extends { webhooks: Parameters<typeof observeWebhookDeliveries>[0] },
>(store: S, metrics: Metrics): S {
  return withOverrides(store, {
    webhooks: observeWebhookDeliveries(store.webhooks, metrics),
  } as Partial<S>);
}

/**
 * Connections per state, read page by page: a scrape is rare (every 15 s or more) and the
 * connections table is the truth across every process, where a counter kept here would not be.
 */
export async function countConnectionStates(
  connections: {
    list(options: { limit: number; offset?: number }): Promise<Array<{ state: string }>>;
  },
  { pageSize = 1000, max = 1_000_000 } = {},
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let offset = 0; offset < max; offset += pageSize) {
    const page = await connections.list({ limit: pageSize, offset });
    for (const c of page) counts[c.state] = (counts[c.state] ?? 0) + 1;
    if (page.length < pageSize) break;
  }
  return counts;
}
