// The IPC protocol between bench/proxy.ts and each server it spawns in a process of its own
// (bench/proxy-bridge.ts, bench/proxy-floor.ts): the child says `ready` with its URL, then answers
// `cpu` with its CPU time and event-loop delay, and on `close` shuts down and disconnects.
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** `cpu` answers the process's CPU time so far and the event loop's delay since the last ask. */
export type BridgeMessage =
  | { ready: string }
  | { cpuMicros: number; loopDelayP50Ms: number; loopDelayP99Ms: number; loopDelayMaxMs: number };

/** Answers the parent's `cpu` and `close` messages, then tells it the server at `url` is ready. */
export function answerProxyBench(url: string, close: () => Promise<unknown>): void {
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
      void close().finally(() => process.disconnect());
    }
  });
  send({ ready: url });
}
