// fhirbridge in a process of its own for the proxy benchmark (bench/proxy.ts spawns it): the
// runtime and HTTP server from a config, so that its CPU time is its own and not the simulator's
// or the load generator's. Its log lines go where production's do (stdout, at the configured
// level); readiness and CPU readings travel over the IPC channel instead.
import { createLogger } from '../src/common/logger.ts';
import type { Config } from '../src/config/schema.ts';
import { createRuntime } from '../src/runtime.ts';
import { startServer } from '../src/server.ts';
import { answerProxyBench } from './proxy-child.ts';

export type { BridgeMessage } from './proxy-child.ts';

const config = JSON.parse(process.env.BENCH_CONFIG ?? '{}') as Config;
const runtime = await createRuntime({ config, logger: createLogger({ level: config.logLevel }) });
const server = await startServer(runtime, { host: config.host, port: config.port });
answerProxyBench(server.url, () => server.close().then(() => runtime.close()));
