// A scale-out deployment for end-to-end tests: the simulator in this process (or a process of its
// own, `simulatorProcess`); a Redis server of
// the test's own (append-only file, so a restart keeps the queue, as in production); a PostgreSQL
// schema of its own; and `fhirbridge serve` child processes in the api and worker roles, all on
// one config file. A runtime in the test process (serving nothing) creates the API key and reads
// the store and the queue.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createApiKey } from '../../../src/access/api-keys.ts';
import { sandboxDefaults } from '../../../src/cli/setup.ts';
import { registerAtSimulator } from '../../../src/cli/start.ts';
import { createLogger } from '../../../src/common/logger.ts';
import { type Config, type ConfigInput, loadConfig } from '../../../src/config/index.ts';
import { createRuntime, type Runtime } from '../../../src/runtime.ts';
import type { Role } from '../../../src/server.ts';
import {
  createSimulator,
  type Simulator,
  type SimulatorOptionsInput,
} from '../../../src/simulator/index.ts';
import {
  dropSchema,
  freshSchema,
  TEST_POSTGRES_URL,
} from '../../../src/store/postgres/test-schema.test-helper.ts';
import { freePort, type Stack } from './stack.ts';

const BIN = fileURLToPath(new URL('../../../bin/fhirbridge.mjs', import.meta.url));
const RUN_TS = fileURLToPath(new URL('../../../bin/run-ts.mjs', import.meta.url));
const SIMULATOR_CLI = fileURLToPath(new URL('../../../src/simulator/cli.ts', import.meta.url));

/**
 * Polls `probe` every `intervalMs` until it returns a value; `what` names the wait when it times
 * out.
 */
export async function until<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 60_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface RedisServer {
  url: string;
  /** Kills it (SIGKILL: every write it answered is in its append-only file) and waits. */
  kill(): Promise<void>;
  /** Starts it again on the same port and file. */
  start(): Promise<void>;
  ping(): Promise<boolean>;
}

export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fhirbridge-redis-'));
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;
  const ping = async () => {
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  };
  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        // As in production (deploy/compose.yaml): written to the file before each answer, so a
        // killed process loses nothing, and flushed to disk every second rather than after each
        // write, which on a busy disk stalls every command behind the flush.
        '--appendfsync',
        'everysec',
      ],
      { stdio: 'ignore' },
    );
    await until(async () => ((await ping()) ? true : undefined), 'redis-server to answer', 10_000);
  };
  await start();
  return {
    url,
    ping,
    start,
    async kill() {
      const running = child;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    },
  };
}

export interface BridgeProcess {
  role: Role;
  url: string;
  child: ChildProcess;
  exited: Promise<number | NodeJS.Signals | null>;
  output(): string;
}

/** The simulator as the deployment knows it: where it listens, and how to stop it. */
export type SimulatorHandle = Pick<Simulator, 'url' | 'close'>;

export interface Deployment {
  sim: SimulatorHandle;
  redis: RedisServer;
  /** The test's view: the same store and queue as the children. */
  runtime: Runtime;
  config: Config;
  apiKey: string;
  /** The processes that answer HTTP (the `api` and `all` roles). */
  apis: BridgeProcess[];
  workers: BridgeProcess[];
  /** A Stack-shaped handle on one API process, for the connect helper. */
  via(api: BridgeProcess): Stack;
  admin(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export interface DeploymentOptions {
  apis: number;
  workers: number;
  /** Processes in the `all` role (started first when there are any). */
  all?: number;
  /** The embedded default instead: a SQLite file in the data folder, no Redis. */
  embedded?: boolean;
  simulator?: SimulatorOptionsInput;
  /**
   * The simulator in a child process of its own: healow counts a call in the window it arrives
   * in, and a simulator sharing a busy test process counts late (a call that arrived at a
   * window's end counted in the next).
   */
  simulatorProcess?: boolean;
  /** Over the deployment's config (`sync` merged key by key). */
  config?: Record<string, unknown>;
}

function spawnBridge(configFile: string, role: Role, port: number): BridgeProcess {
  const child = spawn(
    process.execPath,
    [BIN, '--config', configFile, 'serve', '--role', role, '--port', String(port)],
    {
      // No FHIRBRIDGE_* from the test's environment: the config file says everything.
      env: Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !k.startsWith('FHIRBRIDGE_')),
      ),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  return { role, url: `http://127.0.0.1:${port}`, child, exited, output: () => output };
}

/** The simulator as `node bin/run-ts.mjs src/simulator/cli.ts`, on its options as a file. */
async function spawnSimulator(
  options: SimulatorOptionsInput,
  dir: string,
): Promise<SimulatorHandle> {
  const file = join(dir, 'simulator.json');
  writeFileSync(file, JSON.stringify(options));
  const child = spawn(process.execPath, [RUN_TS, SIMULATOR_CLI, '--config', file, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', () => reject(new Error(`the simulator exited: ${output.slice(-500)}`)));
  });
  return {
    url,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function startDeployment(options: DeploymentOptions): Promise<Deployment> {
  const simOptions = { port: 0, adminEnabled: true, ...options.simulator };
  const sim: SimulatorHandle = options.simulatorProcess
    ? await spawnSimulator(simOptions, mkdtempSync(join(tmpdir(), 'fhirbridge-sim-')))
    : await createSimulator(simOptions);
  const redis = await startRedisServer();
  const schema = freshSchema();
  const dataDir = mkdtempSync(join(tmpdir(), 'fhirbridge-scale-'));
  const ports = await Promise.all(
    Array.from({ length: (options.all ?? 0) + options.apis + options.workers }, () => freePort()),
  );
  // Browsers come back to the first API process (the registered redirect URI).
  const publicUrl = `http://127.0.0.1:${ports[0]}`;
  const { sync, ...rest } = options.config ?? {};
  const input = {
    host: '127.0.0.1',
    publicUrl,
    dataDir,
    logLevel: 'info',
    ...(options.embedded
      ? {}
      : { store: { kind: 'postgres', url: TEST_POSTGRES_URL, schema }, redis: { url: redis.url } }),
    sync: {
      onConnect: false,
      intervalMs: 0,
      leaseMs: 3_000,
      pollIntervalMs: 100,
      progressIntervalMs: 0,
      retryDelayMs: 500,
      ...(sync as Record<string, unknown> | undefined),
    },
    ...rest,
  };
  const config = loadConfig({
    env: {},
    base: sandboxDefaults(sim.url, publicUrl),
    overrides: input as ConfigInput,
  });
  const configFile = join(dataDir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config));
  // The test's runtime opens the store first: migrations and the signing key exist before any
  // child starts.
  const runtime = await createRuntime({ config, logger: createLogger({ level: 'silent' }) });
  await registerAtSimulator(runtime, sim.url);
  const { secret } = await createApiKey(runtime.store, runtime.clock, 'scale-out');

  const roles: Role[] = [
    ...Array.from({ length: options.all ?? 0 }, () => 'all' as const),
    ...Array.from({ length: options.apis }, () => 'api' as const),
    ...Array.from({ length: options.workers }, () => 'worker' as const),
  ];
  const processes = roles.map((role, i) => spawnBridge(configFile, role, ports[i] as number));
  const close = async () => {
    for (const p of processes) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(processes.map((p) => p.exited));
    await runtime.close();
    await redis.kill();
    await sim.close();
    await dropSchema(schema);
  };
  try {
    for (const p of processes) {
      await until(
        async () => ((await fetch(`${p.url}/readyz`)).status === 200 ? true : undefined),
        `${p.role} ${p.url} to be ready: ${p.output().slice(-500)}`,
        // Five processes compiling the sources at once on a loaded machine take a while.
        120_000,
      );
    }
  } catch (error) {
    await close();
    throw error;
  }

  const api =
    (base: string) =>
    (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${secret}`,
          ...(init.body ? { 'content-type': 'application/json' } : {}),
          ...(init.headers as Record<string, string>),
        },
      });
  return {
    sim,
    redis,
    runtime,
    config,
    apiKey: secret,
    apis: processes.filter((p) => p.role !== 'worker'),
    workers: processes.filter((p) => p.role === 'worker'),
    via: (p) => ({ api: api(p.url), url: p.url }) as unknown as Stack,
    admin: (path, init = {}) =>
      fetch(`${sim.url}/admin${path}`, {
        ...init,
        headers: {
          'content-type': 'application/json',
          ...(init.headers as Record<string, string>),
        },
      }),
    close,
  };
}

/** The process ids of the workers that started each job, from their logs. */
export function jobStarts(workers: readonly BridgeProcess[]): Map<string, number[]> {
  const starts = new Map<string, number[]>();
  for (const w of workers) {
    for (const line of w.output().split('\n')) {
      if (!line.includes('"job started"')) continue;
      const { jobId, pid } = JSON.parse(line) as { jobId: string; pid: number };
      starts.set(jobId, [...(starts.get(jobId) ?? []), pid]);
    }
  }
  return starts;
}

/** CPU seconds (user + system) a child process has used so far, from /proc (Linux). */
export function cpuSecondsOf(process: BridgeProcess): number {
  const stat = readFileSync(`/proc/${process.child.pid}/stat`, 'utf8');
  // After the command name: state is field 3, utime and stime fields 14 and 15, in clock ticks
  // (100 a second on Linux).
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
