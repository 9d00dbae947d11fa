// Test helper (not exported): a tiny real HTTP server on 127.0.0.1, port 0, playing the
// authorization server. Each test installs a handler and reads back what the client sent.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, e.g. `/fhir/.well-known/smart-configuration`. */
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
}

export type Handler = (req: RecordedRequest) => Reply | Promise<Reply>;

export interface TestServer {
  /** `http://127.0.0.1:<port>` without a trailing slash. */
  url: string;
  requests: RecordedRequest[];
  handle(handler: Handler): void;
  close(): Promise<void>;
}

export async function startTestServer(handler?: Handler): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  let current: Handler = handler ?? (() => ({ status: 404, body: 'no handler' }));

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      Promise.resolve()
        .then(() => current(recorded))
        .then((reply) => send(res, reply))
        .catch((err: unknown) => send(res, { status: 599, body: String(err) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle(next) {
      current = next;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve, reject) =>
        server.close((err) => (err ? reject(err) : resolve())),
      );
    },
  };
}

function send(res: ServerResponse, reply: Reply): void {
  const { status = 200, headers = {}, body } = reply;
  const isText = typeof body === 'string' || body === undefined;
  const payload = body === undefined ? '' : isText ? (body as string) : JSON.stringify(body);
  res.writeHead(status, {
    ...(isText ? {} : { 'content-type': 'application/json' }),
    ...headers,
  });
  res.end(payload);
}

/** A base URL where nothing listens (a server started then closed): "network down". */
export async function deadUrl(): Promise<string> {
  const s = await startTestServer();
  await s.close();
  return s.url;
}
