// The whole thing for end-to-end tests: the simulator (admin on) and fhirbridge (runtime + HTTP
// server on a real port, a temp SQLite file), the sandbox app registered at the simulator the way
// `npm start` does it, and an API key. Everything on 127.0.0.1, real HTTP in between.
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiKey } from '../../../src/access/api-keys.ts';
import { sandboxDefaults } from '../../../src/cli/setup.ts';
import { registerAtSimulator } from '../../../src/cli/start.ts';
import type { Clock } from '../../../src/common/clock.ts';
import { createLogger, type Logger } from '../../../src/common/logger.ts';
import { type Config, type ConfigInput, loadConfig } from '../../../src/config/index.ts';
import { createRuntime, type Runtime } from '../../../src/runtime.ts';
import { type RunningServer, startServer } from '../../../src/server.ts';
import {
  createSimulator,
  type Simulator,
  type SimulatorOptionsInput,
} from '../../../src/simulator/index.ts';

/** One clock for both sides, real time plus an offset the test moves: what a day passing looks like. */
export interface SharedClock {
  now(): number;
  shift(ms: number): void;
}

export function sharedClock(): SharedClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    shift(ms) {
      offset += ms;
    },
  };
}

export interface Stack {
  clock: SharedClock;
  sim: Simulator;
  runtime: Runtime;
  server: RunningServer;
  /** fhirbridge's public URL. */
  url: string;
  apiKey: string;
  dataDir: string;
  /** fetch against the bridge's JSON API with the API key. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** fetch against the simulator's admin API. */
  admin(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export interface StackOptions {
  simulator?: SimulatorOptionsInput;
  /** Overrides of the bridge config, deep-merged over the sandbox defaults. */
  config?: Record<string, unknown>;
  fetch?: typeof fetch;
  dataDir?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const clock = sharedClock();
  const sim = await createSimulator(
    { port: 0, adminEnabled: true, ...options.simulator },
    { clock },
  );
  const port = await freePort();
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'fhirbridge-e2e-'));
  const bridge = await startBridge({
    config: bridgeConfig(sim.url, port, dataDir, options.config),
    simulatorUrl: sim.url,
    clock,
    keyName: 'e2e',
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return {
    clock,
    sim,
    ...bridge,
    dataDir,
    admin: simulatorAdmin(sim.url),
    async close() {
      await bridge.server.close();
      await bridge.runtime.close();
      await sim.close();
    },
  };
}

/** The sandbox defaults for a bridge at `127.0.0.1:<port>` beside the simulator, with overrides. */
export function bridgeConfig(
  simulatorUrl: string,
  port: number,
  dataDir: string,
  overrides: Record<string, unknown> = {},
): Config {
  const url = `http://127.0.0.1:${port}`;
  return loadConfig({
    env: {},
    base: sandboxDefaults(simulatorUrl, url),
    overrides: {
      host: '127.0.0.1',
      port,
      publicUrl: url,
      dataDir,
      logLevel: 'silent',
      ...overrides,
    } as ConfigInput,
  });
}

export interface BridgeOptions {
  config: Config;
  simulatorUrl: string;
  clock: Clock;
  /** The name of the API key made for the test. */
  keyName: string;
  /** Silent when absent. */
  logger?: Logger;
  fetch?: typeof fetch;
}

/** An in-process fhirbridge: what a stack needs of one, and its API key's fetch. */
export type Bridge = Pick<Stack, 'runtime' | 'server' | 'url' | 'apiKey' | 'api'>;

/**
 * fhirbridge's runtime and HTTP server on the config's port, the sandbox app registered at the
 * simulator the way `npm start` does it, and an API key.
 */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const { config } = options;
  const runtime = await createRuntime({
    config,
    logger: options.logger ?? createLogger({ level: 'silent' }),
    clock: options.clock,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const server = await startServer(runtime, { host: '127.0.0.1', port: config.port });
  await registerAtSimulator(runtime, options.simulatorUrl);
  const { secret } = await createApiKey(runtime.store, runtime.clock, options.keyName);
  const url = `http://127.0.0.1:${config.port}`;
  return { runtime, server, url, apiKey: secret, api: keyedApi(url, secret) };
}

/** fetch against the bridge's JSON API at `url` with an API key; a body is sent as JSON. */
export function keyedApi(url: string, apiKey: string): Stack['api'] {
  return (path, init = {}) =>
    fetch(`${url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.headers as Record<string, string>),
      },
    });
}

/** fetch against the simulator's admin API; a body is sent as JSON. */
export function simulatorAdmin(simulatorUrl: string): Stack['admin'] {
  return (path, init = {}) =>
    fetch(`${simulatorUrl}/admin${path}`, {
      ...init,
      headers: {
        'content-type': 'application/json',
        ...(init.headers as Record<string, string>),
      },
    });
}
