// `fhirbridge start [--with-simulator]`: the bridge, and for the first five minutes the local
// healow simulator with the sandbox app registered at it.
import { BridgeError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { privatePathsOf, widerThanPrivate } from '../config/private-files.ts';
import type { Config } from '../config/schema.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import { startServer } from '../server.ts';
import { createSimulator } from '../simulator/index.ts';
import { type ConfigFlags, resolveConfig, simulatorPortOf } from './setup.ts';

export interface StartFlags extends ConfigFlags {
  withSimulator?: boolean;
}

export interface Started {
  runtime: Runtime;
  url: string;
  simulatorUrl?: string;
  close(): Promise<void>;
}

/** Registers the sandbox registrations at the simulator, as a person would in healow's portal. */
export async function registerAtSimulator(runtime: Runtime, simulatorUrl: string): Promise<void> {
  const { config } = runtime;
  for (const [name, r] of Object.entries(config.registrations)) {
    if (r.environment !== 'sandbox') continue;
    const body = {
      clientId: r.clientId,
      environment: 'sandbox',
      type: r.clientType,
      ...(r.clientType === 'confidential-asymmetric'
        ? { jwksUrl: `${config.publicUrl}/jwks/${name}.json` }
        : {}),
      ...(r.clientSecret ? { clientSecret: r.clientSecret } : {}),
      redirectUris: [r.redirectUri ?? `${config.publicUrl}/callback`],
      appName: 'fhirbridge sandbox app',
      appDescription: 'Reads your health record so that the app you connected can show it to you.',
    };
    const response = await fetch(`${simulatorUrl}/admin/registrations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      throw new BridgeError(
        'invalid_config',
        `the simulator refused registration "${name}": ${response.status} ${await response.text()}`,
      );
    }
  }
}

/** Warns, naming the path, for the data folder or a database file that others may read. */
export function warnWiderThanPrivate(
  config: Pick<Config, 'dataDir' | 'store'>,
  logger: Logger,
): number {
  const problems = widerThanPrivate(privatePathsOf(config));
  for (const p of problems) {
    logger.warn(
      { path: p.path, mode: p.mode, expected: p.expected },
      `${p.path} has mode ${p.mode}: other users may read patient records; chmod ${p.expected} ${p.path}`,
    );
  }
  return problems.length;
}

export async function start(flags: StartFlags): Promise<Started> {
  const { config, sandbox, simulatorUrl } = resolveConfig(flags);
  const simulator = flags.withSimulator
    ? await createSimulator({
        port: simulatorPortOf(flags),
        adminEnabled: true,
        logger: false,
      })
    : undefined;
  let runtime: Runtime | undefined;
  try {
    runtime = await createRuntime({ config });
    warnWiderThanPrivate(config, runtime.logger);
    const server = await startServer(runtime, { host: config.host, port: config.port });
    if (simulator) await registerAtSimulator(runtime, simulator.url);
    const rt = runtime;
    rt.logger.info({ url: config.publicUrl, sandbox }, 'fhirbridge is up');
    return {
      runtime: rt,
      url: server.url,
      ...(simulator ? { simulatorUrl: simulator.url } : sandbox ? { simulatorUrl } : {}),
      async close() {
        await server.close();
        await rt.close();
        await simulator?.close();
      },
    };
  } catch (error) {
    await runtime?.close();
    await simulator?.close();
    throw error;
  }
}
