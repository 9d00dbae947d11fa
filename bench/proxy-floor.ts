// The platform's floor for a proxied read, in a process of its own (bench/proxy.ts spawns it):
// a bare `node:http` server that passes each GET on to one upstream URL with undici's pooled
// `request` and answers the upstream's status, content type and bytes. No routing, no key, no
// store, no budget, no logging: what any Node proxy on this machine spends per read at least,
// measured in the same harness as the bridge so that the bridge's CPU per read has a baseline.
// The same IPC protocol as bench/proxy-bridge.ts (bench/proxy-child.ts).
import { createServer } from 'node:http';
import { Agent, request } from 'undici';
import { answerProxyBench } from './proxy-child.ts';

export interface FloorInput {
  /** Every request is answered with a GET of this URL. */
  upstream: string;
  headers: Record<string, string>;
}

const input = JSON.parse(process.env.BENCH_FLOOR ?? '{}') as FloorInput;
const dispatcher = new Agent({ connections: 64, pipelining: 1 });

const server = createServer(async (_req, res) => {
  try {
    const answer = await request(input.upstream, { headers: input.headers, dispatcher });
    const body = Buffer.from(await answer.body.arrayBuffer());
    res.writeHead(answer.statusCode, {
      'content-type': String(answer.headers['content-type'] ?? 'application/fhir+json'),
      'content-length': body.length,
    });
    res.end(body);
  } catch {
    res.writeHead(502).end();
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1');
await new Promise<void>((done) => server.once('listening', done));

const address = server.address();
const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
answerProxyBench(url, closeServer);

function closeServer(): Promise<void> {
  server.closeAllConnections();
  return new Promise<void>((done) => server.close(() => done())).then(() => dispatcher.close());
}
