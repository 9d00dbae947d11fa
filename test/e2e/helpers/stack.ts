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
import { createLogger } from '../../../src/common/logger.ts';
import { type ConfigInput, loadConfig } from '../../../src/config/index.ts';
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
  const url = `http://127.0.0.1:${port}`;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'fhirbridge-e2e-'));
  const config = loadConfig({
    env: {},
    base: sandboxDefaults(sim.url, url),
    overrides: {
      host: '127.0.0.1',
      port,
      publicUrl: url,
      dataDir,
      logLevel: 'silent',
      ...options.config,
    } as ConfigInput,
  });
  const runtime = await createRuntime({
    config,
    logger: createLogger({ level: 'silent' }),
    clock,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const server = await startServer(runtime, { host: '127.0.0.1', port });
  await registerAtSimulator(runtime, sim.url);
  const { secret } = await createApiKey(runtime.store, runtime.clock, 'e2e');
  return {
    clock,
    sim,
    runtime,
    server,
    url,
    apiKey: secret,
    dataDir,
    api: (path, init = {}) =>
      fetch(`${url}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${secret}`,
          ...(init.body ? { 'content-type': 'application/json' } : {}),
          ...(init.headers as Record<string, string>),
        },
      }),
    admin: (path, init = {}) =>
      fetch(`${sim.url}/admin${path}`, {
        ...init,
        headers: {
          'content-type': 'application/json',
          ...(init.headers as Record<string, string>),
        },
      }),
    async close() {
      await server.close();
      await runtime.close();
      await sim.close();
    },
  };
}
