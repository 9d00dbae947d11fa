// The stack of the fault campaign: the simulator and an in-process fhirbridge on one SQLite file,
// plus real `fhirbridge` child processes on the same file that the campaign kills with SIGKILL.
// Two clocks: the bridge's (real time plus an offset the campaign moves, shared by the children
// through a preload that shifts their Date.now) and the simulator's, which follows the bridge's
// plus a skew of its own (`POST /admin/clock/shift`), so clock skew is a fault like the others.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../../src/common/logger.ts';
import { createSimulator, type SimulatorOptionsInput } from '../../../src/simulator/index.ts';
import {
  bridgeConfig,
  freePort,
  type Stack,
  sharedClock,
  simulatorAdmin,
  startBridge,
} from './stack.ts';

const BIN = fileURLToPath(new URL('../../../bin/fhirbridge.mjs', import.meta.url));
const OFFSET_ENV = 'CHAOS_CLOCK_OFFSET_MS';
/** Runs before the CLI: the child's clock is the campaign's (real time plus the same offset). */
const CLOCK_PRELOAD = `data:text/javascript,${encodeURIComponent(
  `const o = Number(process.env.${OFFSET_ENV} ?? 0); const n = Date.now; Date.now = () => n() + o;`,
)}`;

export interface ChaosStack extends Stack {
  /** Milliseconds the bridge's clock (and the children's) runs ahead of real time. */
  offsetMs(): number;
  /** The config file the child processes run with. */
  configFile: string;
  /** Starts `fhirbridge <args>` on the same store and clock. */
  spawnBridge(args: string[]): BridgeChild;
}

export interface BridgeChild {
  child: ChildProcess;
  /** The exit code, or the signal that ended it. */
  exited: Promise<number | NodeJS.Signals | null>;
  output(): string;
}

export interface ChaosStackOptions {
  simulator?: SimulatorOptionsInput;
  /** Overrides of the bridge config, over the sandbox defaults. */
  config?: Record<string, unknown>;
  /** The bridge's logger (silent when absent). */
  logger?: Logger;
  /** The bridge's upstream fetch (to watch or tamper with what it sends and receives). */
  fetch?: typeof fetch;
}

export async function startChaosStack(options: ChaosStackOptions = {}): Promise<ChaosStack> {
  const clock = sharedClock();
  let offset = 0;
  const bridgeClock = {
    now: clock.now,
    shift(ms: number) {
      offset += ms;
      clock.shift(ms);
    },
  };
  let skew = 0;
  const simClock = {
    now: () => clock.now() + skew,
    shift(ms: number) {
      skew += ms;
    },
  };
  const sim = await createSimulator(
    { port: 0, adminEnabled: true, ...options.simulator },
    { clock: simClock },
  );
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'fhirbridge-chaos-'));
  const config = bridgeConfig(sim.url, port, dataDir, options.config);
  const bridge = await startBridge({
    config,
    simulatorUrl: sim.url,
    clock: bridgeClock,
    keyName: 'chaos',
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  // The operator's config file, outside the data folder the security suite searches for secrets.
  const configFile = join(mkdtempSync(join(tmpdir(), 'fhirbridge-chaos-config-')), 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({ ...config, sync: { ...config.sync, progressIntervalMs: 0 } }),
    { mode: 0o600 },
  );
  const children = new Set<ChildProcess>();

  return {
    clock: bridgeClock,
    sim,
    ...bridge,
    dataDir,
    configFile,
    offsetMs: () => offset,
    admin: simulatorAdmin(sim.url),
    spawnBridge(args) {
      const child = spawn(
        process.execPath,
        ['--import', CLOCK_PRELOAD, BIN, '--config', configFile, ...args],
        {
          // No FHIRBRIDGE_* from the test's environment: the config file says everything.
          env: {
            ...Object.fromEntries(
              Object.entries(process.env).filter(([k]) => !k.startsWith('FHIRBRIDGE_')),
            ),
            [OFFSET_ENV]: String(offset),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      children.add(child);
      let output = '';
      const collect = (chunk: Buffer) => {
        output += chunk;
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
        child.once('exit', (code, signal) => {
          children.delete(child);
          resolve(code ?? signal);
        }),
      );
      return { child, exited, output: () => output };
    },
    async close() {
      for (const child of children) child.kill('SIGKILL');
      await bridge.server.close();
      await bridge.runtime.close();
      await sim.close();
    },
  };
}
