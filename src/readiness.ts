// `/healthz` and `/readyz`. Health is the process: it answers, so it need not be restarted.
// Readiness is whether it should be sent work now: every dependency it opened (the store, Redis
// when used) answered a ping in time, and it is not shutting down.
import type { FastifyInstance } from 'fastify';
import type { Clock } from './common/clock.ts';
import { realTimers, type Timers } from './common/timers.ts';

/** One dependency's ping; rejects when it is unusable. */
export type DependencyCheck = () => Promise<unknown>;

export interface DependencyState {
  ok: boolean;
  ms: number;
  /** Why it is not usable: the error's class and code only, never its message (it may hold a URL with a password). */
  error?: string;
}

export interface ReadinessReport {
  status: 'ready' | 'not_ready' | 'draining';
  dependencies: Record<string, DependencyState>;
}

export interface Readiness {
  check(): Promise<ReadinessReport>;
  /** From now on the process reports `draining` (shutdown began): load balancers stop sending. */
  drain(): void;
  readonly draining: boolean;
}

export function createReadiness({
  checks,
  clock,
  timers = realTimers,
  timeoutMs = 2_000,
}: {
  checks: Record<string, DependencyCheck>;
  clock: Clock;
  timers?: Timers;
  /** A dependency slower than this to answer is not ready. */
  timeoutMs?: number;
}): Readiness {
  let draining = false;

  async function probe(check: DependencyCheck): Promise<DependencyState> {
    const started = clock.now();
    let timer: unknown;
    const timeout = new Promise<never>((_, reject) => {
      timer = timers.setTimeout(() => reject(new TimeoutError()), timeoutMs);
    });
    try {
      await Promise.race([check(), timeout]);
      return { ok: true, ms: clock.now() - started };
    } catch (error) {
      return { ok: false, ms: clock.now() - started, error: describe(error) };
    } finally {
      timers.clearTimeout(timer);
    }
  }

  return {
    async check() {
      const names = Object.keys(checks);
      const states = await Promise.all(names.map((n) => probe(checks[n] as DependencyCheck)));
      const dependencies = Object.fromEntries(
        names.map((n, i) => [n, states[i] as DependencyState]),
      );
      const ok = states.every((s) => s.ok);
      return { status: draining ? 'draining' : ok ? 'ready' : 'not_ready', dependencies };
    },
    drain() {
      draining = true;
    },
    get draining() {
      return draining;
    },
  };
}

class TimeoutError extends Error {
  override name = 'TimeoutError';
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return 'error';
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${error.name} ${code}` : error.name;
}

/** Adds `/readyz` (and `/healthz` unless the app has it): 200 when ready, else 503. */
export function registerHealthRoutes(app: FastifyInstance, readiness: Readiness): void {
  if (!app.hasRoute({ method: 'GET', url: '/healthz' })) {
    app.get('/healthz', async () => ({ status: 'ok' }));
  }
  app.get('/readyz', async (_request, reply) => {
    const report = await readiness.check();
    reply.header('cache-control', 'no-store');
    return reply.code(report.status === 'ready' ? 200 : 503).send(report);
  });
}
