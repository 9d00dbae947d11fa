// How the CLI finds its configuration. With no registrations configured (no file, no env), it
// runs the sandbox setup against the local simulator: one confidential-asymmetric registration
// `sandbox` and the simulator's practices, JAFJCD first. That is what `npm start` shows.
import { type Config, type ConfigInput, DEFAULT_SCOPES, loadConfig } from '../config/index.ts';
import { DEFAULT_PRACTICES } from '../simulator/options.ts';

export const SIMULATOR_PORT = 9090;
export const SANDBOX_CLIENT_ID = 'fhirbridge-sandbox';

export function sandboxDefaults(
  simulatorUrl: string,
  publicUrl = 'http://localhost:8080',
): ConfigInput {
  return {
    registrations: {
      sandbox: {
        environment: 'sandbox',
        clientId: SANDBOX_CLIENT_ID,
        clientType: 'confidential-asymmetric',
      },
    },
    practices: DEFAULT_PRACTICES.map((p) => ({
      id: p.code,
      name: p.name,
      base: `${simulatorUrl}/fhir/r4/${p.code}`,
      vendor: 'healow' as const,
      registration: 'sandbox',
    })),
    returnToAllowList: [publicUrl],
    // The simulator refetches our JWKS on an unknown kid, so a new key may sign at once here.
    keys: { publishDelayMs: 0, retireGraceMs: 24 * 3_600_000 },
  };
}

export interface ConfigFlags {
  config?: string;
  port?: string;
  host?: string;
  simulatorPort?: string;
}

export function simulatorPortOf(
  flags: ConfigFlags,
  env: Record<string, string | undefined> = process.env,
): number {
  return Number(flags.simulatorPort ?? env.FHIRBRIDGE_SIMULATOR_PORT ?? SIMULATOR_PORT);
}

export function resolveConfig(
  flags: ConfigFlags,
  env = process.env,
): { config: Config; sandbox: boolean; simulatorUrl: string } {
  const overrides: ConfigInput = {};
  if (flags.port !== undefined) overrides.port = Number(flags.port);
  if (flags.host !== undefined) overrides.host = flags.host;
  const loaded = loadConfig({ env, file: flags.config, overrides });
  // Every command must agree on where the sandbox simulator is, or they would disagree on the
  // practices' bases: the flag, else FHIRBRIDGE_SIMULATOR_PORT, else 9090.
  const simulatorUrl = `http://127.0.0.1:${simulatorPortOf(flags, env)}`;
  if (Object.keys(loaded.registrations).length > 0)
    return { config: loaded, sandbox: false, simulatorUrl };
  const publicUrl = env.FHIRBRIDGE_PUBLIC_URL ?? `http://localhost:${loaded.port}`;
  return {
    config: loadConfig({
      env,
      file: flags.config,
      overrides: { publicUrl, ...overrides },
      base: sandboxDefaults(simulatorUrl, publicUrl),
    }),
    sandbox: true,
    simulatorUrl,
  };
}

export { DEFAULT_SCOPES };
