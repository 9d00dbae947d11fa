// fhirbridge in a process of its own for the proxy benchmark (bench/proxy.ts spawns it): the
// runtime and HTTP server from a config, so that its CPU time is its own and not the simulator's
// or the load generator's. Its log lines go where production's do (stdout, at the configured
// level); readiness and CPU readings travel over the IPC channel instead.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createLogger } from '../src/common/logger.ts';
import type { Config } from '../src/config/schema.ts';
import { createRuntime } from '../src/runtime.ts';
import { startServer } from '../src/server.ts';

/** `cpu` answers the process's CPU time so far and the event loop's delay since the last ask. */
export type BridgeMessage =
  | { ready: string }
  | { cpuMicros: number; loopDelayP50Ms: number; loopDelayP99Ms: number; loopDelayMaxMs: number };

const config = JSON.parse(process.env.BENCH_CONFIG ?? '{}') as Config;
const runtime = await createRuntime({ config, logger: createLogger({ level: config.logLevel }) });
const server = await startServer(runtime, { host: config.host, port: config.port });
const send = (message: BridgeMessage) => process.send?.(message);
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();
const ms = (nanos: number) => Math.round(nanos / 1e4) / 100;

process.on('message', (message: unknown) => {
  if (message === 'cpu') {
    const { user, system } = process.cpuUsage();
    send({
      cpuMicros: user + system,
      loopDelayP50Ms: ms(loopDelay.percentile(50)),
      loopDelayP99Ms: ms(loopDelay.percentile(99)),
      loopDelayMaxMs: ms(loopDelay.max),
    });
    loopDelay.reset();
  } else if (message === 'close') {
    void server
      .close()
      .then(() => runtime.close())
      .finally(() => process.disconnect());
  }
});
send({ ready: server.url });
