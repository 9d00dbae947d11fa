// Hosts that are not the simulator, for host-pinning tests: a front that impersonates the practice
// bases (the simulator's `publicUrl` names it, so it passes every call through unchanged unless the
// test rewrites an answer), and a recorder on another port that notes what it is sent.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface FrontRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  /** The same request sent on to the simulator, its answer unread. */
  forward(): Promise<Response>;
}

export interface Front {
  /** `http://127.0.0.1:{port}`: pass it as the simulator's `publicUrl`. */
  url: string;
  /** Answers a request instead of the simulator; undefined (or returning undefined) passes it on. */
  rewrite: ((request: FrontRequest) => Promise<Response | undefined>) | undefined;
  close(): Promise<void>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  authorization: string | undefined;
}

export interface Recorder {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Headers that belong to one hop, or that fetch already undid (compression, chunking). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
  'host',
]);

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

function requestHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    for (const v of [value].flat()) headers.append(name, v);
  }
  return headers;
}

/** A pass-through front for the simulator listening on `upstream` (its real origin). */
export async function startFront(upstream: string): Promise<Front> {
  const front: Front = { url: '', rewrite: undefined, close: async () => {} };
  const server = createServer(async (req, res) => {
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const method = req.method ?? 'GET';
      const path = req.url ?? '/';
      const forward = () =>
        fetch(`${upstream}${path}`, {
          method,
          headers: requestHeaders(req.headers),
          ...(method === 'GET' || method === 'HEAD' ? {} : { body: Buffer.concat(chunks) }),
          redirect: 'manual',
        });
      const answer = (await front.rewrite?.({ method, path, forward })) ?? (await forward());
      const headers: Record<string, string | string[]> = {};
      answer.headers.forEach((value, name) => {
        if (!HOP_BY_HOP.has(name) && name !== 'set-cookie') headers[name] = value;
      });
      const cookies = answer.headers.getSetCookie();
      if (cookies.length > 0) headers['set-cookie'] = cookies;
      res.writeHead(answer.status, headers);
      res.end(Buffer.from(await answer.arrayBuffer()));
    } catch (error) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`front: ${(error as Error).message}`);
    }
  });
  front.url = await listen(server);
  front.close = () => closeServer(server);
  return front;
}

/** Records every request (and its Authorization header) and answers an empty searchset. */
export async function startRecorder(): Promise<Recorder> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    requests.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authorization: req.headers.authorization,
    });
    // A plausible answer, so that a client that did follow the link would seem to succeed.
    res.writeHead(200, { 'content-type': 'application/fhir+json' });
    res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total: 0 }));
  });
  return { url: await listen(server), requests, close: () => closeServer(server) };
}
