// `fhirbridge serve --role api|worker|all`: one process of a deployment. API processes answer
// HTTP; workers run syncs, token refresh, webhooks and schedules; `all` is both (what `start`
// runs). SIGTERM or SIGINT shuts it down gracefully, within `--shutdown-timeout`; a second signal
// ends it at once.
import { type Command, Option } from 'commander';
import { BridgeError } from '../common/errors.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import { ROLES, type Role, type RunningServer, startServer } from '../server.ts';
import { type ConfigFlags, resolveConfig } from './setup.ts';
import { warnWiderThanPrivate } from './start.ts';

export interface ServeFlags extends ConfigFlags {
  role: Role;
}

export interface Served {
  runtime: Runtime;
  server: RunningServer;
  /** Graceful: stop taking work, finish or hand back what is in flight, close everything. */
  close(): Promise<void>;
}

export async function serve(flags: ServeFlags): Promise<Served> {
  const { config } = resolveConfig(flags);
  const runtime = await createRuntime({ config });
  try {
    warnWiderThanPrivate(config, runtime.logger);
    const server = await startServer(runtime, {
      host: config.host,
      port: config.port,
      role: flags.role,
    });
    runtime.logger.info(
      { role: flags.role, url: server.url, jobs: config.redis ? 'redis' : 'store' },
      'fhirbridge is serving',
    );
    return {
      runtime,
      server,
      async close() {
        await server.close();
        await runtime.close();
      },
    };
  } catch (error) {
    await runtime.close();
    throw error;
  }
}

/** Runs `close` on the first SIGTERM/SIGINT; exits 1 if it outlasts `timeoutMs` or on a second. */
export function closeOnSignals(
  close: () => Promise<void>,
  { timeoutMs, log }: { timeoutMs: number; log: (line: string) => void },
): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log(`${signal}: stopping (running syncs go back to the queue at their next checkpoint)`);
    const deadline = setTimeout(() => {
      log(
        `shutdown took longer than ${timeoutMs} ms: exiting; unfinished jobs are reclaimed once their lease lapses`,
      );
      process.exit(1);
    }, timeoutMs);
    deadline.unref();
    close().then(
      () => {
        log('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        log(`shutdown failed: ${error instanceof Error ? error.name : 'error'}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run one process of a deployment: the API, a worker, or both')
    .addOption(
      new Option('--role <role>', 'api: HTTP only; worker: syncs, refresh, webhooks; all: both')
        .choices(ROLES)
        .default('all'),
    )
    .option(
      '-p, --port <port>',
      'port (default 8080, FHIRBRIDGE_PORT); a worker serves /healthz and /readyz on it',
    )
    .option('--host <host>', 'interface (default 127.0.0.1, FHIRBRIDGE_HOST)')
    .option('--shutdown-timeout <ms>', 'longest graceful shutdown before exiting anyway', '30000')
    .action(async (opts: { role: Role; port?: string; host?: string; shutdownTimeout: string }) => {
      const timeoutMs = Number(opts.shutdownTimeout);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
        throw new BridgeError('invalid_config', '--shutdown-timeout must be a whole number of ms');
      }
      const served = await serve({ ...program.opts<ConfigFlags>(), ...opts });
      closeOnSignals(served.close, {
        timeoutMs,
        log: (line) => served.runtime.logger.info(line),
      });
    });
}
