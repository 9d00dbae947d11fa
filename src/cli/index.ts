// The `fhirbridge` command. Each subcommand opens the runtime it needs and closes it after.
import { Command, CommanderError } from 'commander';
import { BridgeError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import { simulateCommand } from '../simulator/cli.ts';
import { registerApiKeyCommands } from './apikeys.ts';
import { registerConnectionCommands } from './connections.ts';
import { registerDoctorCommand } from './doctor.ts';
import { registerExportCommand } from './export.ts';
import { registerKeysCommands } from './keys.ts';
import { registerPracticesCommands } from './practices.ts';
import { registerRegistrationCommands } from './registration.ts';
import { registerServeCommand } from './serve.ts';
import { type ConfigFlags, resolveConfig } from './setup.ts';
import { start } from './start.ts';
import { registerSyncCommand } from './sync.ts';

export function buildProgram(): Command {
  const program = new Command('fhirbridge')
    .description('Connect patient apps to eClinicalWorks (healow) and any SMART on FHIR R4 EHR')
    .option('-c, --config <file>', 'JSON config file (default: FHIRBRIDGE_CONFIG)')
    .option(
      '--simulator-port <port>',
      'port of the sandbox simulator (default: FHIRBRIDGE_SIMULATOR_PORT or 9090)',
    )
    .showHelpAfterError()
    .exitOverride();

  const withRuntime = async <T>(fn: (rt: Runtime) => Promise<T>): Promise<T> => {
    const { config } = resolveConfig(program.opts<ConfigFlags>());
    // Commands print for people; only warnings and errors are logged.
    const runtime = await createRuntime({ config, logger: createLogger({ level: 'warn' }) });
    try {
      return await fn(runtime);
    } finally {
      await runtime.close();
    }
  };

  program
    .command('start')
    .description('run the bridge (API, patient pages, JWKS, background refresh)')
    .option(
      '--with-simulator',
      'also run the local healow simulator and register the sandbox app at it',
    )
    .option('-p, --port <port>', 'port (default 8080, FHIRBRIDGE_PORT)')
    .option('--host <host>', 'interface (default 127.0.0.1, FHIRBRIDGE_HOST)')
    .action(
      async (opts: {
        withSimulator?: boolean;
        port?: string;
        host?: string;
        simulatorPort?: string;
      }) => {
        const started = await start({ ...program.opts<ConfigFlags>(), ...opts });
        const { config } = started.runtime;
        console.log(`\nfhirbridge is running on ${config.publicUrl}`);
        if (started.simulatorUrl) {
          console.log(`  simulator (healow):  ${started.simulatorUrl}`);
          console.log(`  connect a patient:   ${config.publicUrl}/connect`);
          console.log(
            '  test patient:        AdultFemaleFHIR / e@CWFHIR1 (also AdultMaleFHIR, ChildFemaleFHIR, ChildMaleFHIR)',
          );
        }
        console.log('Press Ctrl+C to stop.\n');
        const stop = async () => {
          console.log('\nstopping: finishing running work at its next checkpoint…');
          await started.close();
          console.log('stopped.');
          process.exit(0);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    );

  registerServeCommand(program);
  program.addCommand(simulateCommand());

  registerKeysCommands(program, withRuntime);
  registerApiKeyCommands(program, withRuntime);
  registerConnectionCommands(program, withRuntime);
  registerPracticesCommands(program, async () => {
    const { config } = resolveConfig(program.opts<ConfigFlags>());
    const runtime = await createRuntime({ config, logger: createLogger({ level: 'warn' }) });
    return { practices: runtime.directory, close: () => runtime.close() };
  });
  registerExportCommand(program, withRuntime);
  registerSyncCommand(program, withRuntime);
  registerRegistrationCommands(program, withRuntime);
  registerDoctorCommand(program, withRuntime);

  program
    .command('config')
    .description('check the configuration and print it (secrets hidden)')
    .action(() => {
      const { config, sandbox } = resolveConfig(program.opts<ConfigFlags>());
      const shown = {
        ...config,
        masterKeys: config.masterKeys.map((k) => ({ id: k.id, key: '[hidden]' })),
        webhooks: config.webhooks.map((w) => ({ ...w, secret: '[hidden]' })),
        ...(config.redis ? { redis: { url: withoutPassword(config.redis.url) } } : {}),
        registrations: Object.fromEntries(
          Object.entries(config.registrations).map(([n, r]) => [
            n,
            { ...r, ...(r.clientSecret ? { clientSecret: '[hidden]' } : {}) },
          ]),
        ),
      };
      console.log(JSON.stringify({ sandbox, ...shown }, null, 2));
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  // Commander prints the errors of its own parsing; one thrown by an action (a bad `--port`)
  // it does not, and a command must never fail without saying why.
  let printed = false;
  program.configureOutput({
    outputError: (text, write) => {
      printed = true;
      write(text);
    },
  });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (!printed && error.exitCode !== 0) console.error(`fhirbridge: ${error.message}`);
      process.exitCode = error.exitCode === 0 ? 0 : error.exitCode || 1;
      return;
    }
    const message =
      error instanceof BridgeError
        ? error.message
        : `unexpected error: ${(error as Error).message}`;
    console.error(`fhirbridge: ${message}`);
    process.exitCode = 1;
  }
}

/** A URL with its password (a Redis or database URL's) replaced, for printing. */
function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = 'hidden';
  return parsed.href;
}
