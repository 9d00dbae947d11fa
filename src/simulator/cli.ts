// `fhirbridge simulate`: runs the healow simulator alone. The main CLI calls
// runSimulatorCommand; `node bin/run-ts.mjs src/simulator/cli.ts --port 9090` works standalone.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { createSimulator, type Simulator } from './index.ts';
import {
  readSimulatorConfigFile,
  registrationsFromEnv,
  type SimulatorOptionsInput,
} from './options.ts';

export interface SimulateCommandOptions {
  port?: number | string;
  host?: string;
  resourcesPerPatient?: number | string;
  /** Practices in the endpoint directory (e.g. 17000 for directory tests). */
  directorySize?: number | string;
  /** A JSON file with simulator options (same shape as SimulatorOptionsInput). */
  config?: string;
  /** Turn on the admin API under /admin. */
  admin?: boolean;
  seed?: string;
  /** `healow` (default) or `generic`: which server the simulator plays. */
  profile?: string;
  /** Log requests. */
  log?: boolean;
}

function toInt(value: number | string, name: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`${name} must be a whole number`);
  return n;
}

function toProfile(value: string): 'healow' | 'generic' {
  if (value === 'healow' || value === 'generic') return value;
  throw new InvalidArgumentError('--profile must be healow or generic');
}

/** Options from a config file, then the environment, then the command line (last one wins). */
export async function simulatorOptionsFrom(
  opts: SimulateCommandOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SimulatorOptionsInput> {
  const file = opts.config ? await readSimulatorConfigFile(opts.config) : {};
  const fromEnv = registrationsFromEnv(env);
  return {
    ...file,
    ...(fromEnv.length > 0 ? { registrations: [...(file.registrations ?? []), ...fromEnv] } : {}),
    ...(opts.port === undefined ? {} : { port: toInt(opts.port, '--port') }),
    ...(opts.host === undefined ? {} : { host: opts.host }),
    ...(opts.resourcesPerPatient === undefined
      ? {}
      : { resourcesPerPatient: toInt(opts.resourcesPerPatient, '--resources-per-patient') }),
    ...(opts.directorySize === undefined
      ? {}
      : { directorySize: toInt(opts.directorySize, '--directory-size') }),
    ...(opts.admin ? { adminEnabled: true } : {}),
    ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    ...(opts.profile === undefined ? {} : { profile: toProfile(opts.profile) }),
    ...(opts.log ? { logger: true } : {}),
  };
}

/** Starts the simulator, prints where everything is, and closes it on SIGINT/SIGTERM. */
export async function runSimulatorCommand(
  opts: SimulateCommandOptions,
  out: (line: string) => void = (line) => console.log(line),
): Promise<Simulator> {
  const simulator = await createSimulator(await simulatorOptionsFrom(opts));
  const { options } = simulator.context;
  out(`healow simulator listening on ${simulator.url}`);
  if (options.profile !== 'healow') out(`  profile: ${options.profile}`);
  out(`  authorization server: ${simulator.url}/oauth/oauth2/{authorize,token,jwks}`);
  for (const practice of simulator.context.practices.values()) {
    out(`  ${practice.code.padEnd(8)} ${simulator.fhirBase(practice.code)}  (${practice.name})`);
  }
  out(`  directory: ${simulator.url}/apps/api/v1/fhir/activated_clinical_endpoints`);
  out(
    `  admin API: ${options.adminEnabled ? `${simulator.url}/admin` : 'off (--admin to enable)'}`,
  );
  out(`  test patients: ${simulator.context.data.usernames().join(', ')} (password e@CWFHIR1)`);
  out(
    `  registered clients: ${simulator.registrations
      .list()
      .map((r) => r.clientId)
      .join(', ')}`,
  );
  const stop = () => {
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // Closing by hand (tests, the main CLI) also drops the signal handlers.
  const close = async (): Promise<void> => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await simulator.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return { ...simulator, close };
}

/** The standalone command line: `cli.ts --port 9090 --resources-per-patient 500 --config sim.json`. */
export function simulateCommand(): Command {
  return new Command('simulate')
    .description('run the local healow simulator')
    .option('-p, --port <port>', 'port to listen on (0 = any free port)', '9090')
    .option('--host <host>', 'interface to bind (default 127.0.0.1)')
    .option('--resources-per-patient <n>', 'size of each test patient chart')
    .option('--directory-size <n>', 'practices in the endpoint directory (e.g. 17000)')
    .option('-c, --config <file>', 'JSON file with simulator options')
    .option('--admin', 'enable the admin API under /admin')
    .option('--seed <seed>', 'seed of the generated data and faults')
    .option('--profile <profile>', 'healow (default) or generic: the server to play')
    .option('--log', 'log requests')
    .action(async (opts: SimulateCommandOptions) => {
      await runSimulatorCommand(opts);
    });
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(resolve(entry)).href) {
  simulateCommand()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    });
}
