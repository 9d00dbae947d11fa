// The FHIR proxy in-process (fastify inject) against a loopback upstream that answers byte for
// byte what each test writes: 4xx passed on, 5xx/silence/refusal as ours, Bundles kept as sent.
import { request } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../common/clock.ts';
import { createFhirClient } from '../fhir/client.ts';
import {
  type Handler,
  loopbackFetch,
  recordingBudget,
  startServer,
  type TestServer,
  testTarget,
} from '../fhir/http-server.test-helper.ts';
import { BUFFERED_BODY_MAX, pooledFetch } from '../fhir/transport.ts';
import { installErrorHandling } from '../http/errors.ts';
import { registerFhirProxyRoutes } from './fhir-proxy.ts';

const CON = 'con_abcdefghijkl';
const PUBLIC = 'https://bridge.example';
const PROXY = `${PUBLIC}/api/connections/${CON}/fhir`;
const PATH = '/fhir/r4/JAFJCD';
/** Where healow writes its links and fullUrls: another host, plain http. */
const FOREIGN = `http://fhir4.eclinicalworks.com${PATH}`;
const TIMEOUT_MS = 400;
const HEALOW_JSON = 'application/json+fhir;charset=UTF-8';

let upstream: TestServer | undefined;
let app: FastifyInstance | undefined;

afterEach(async () => {
  await app?.close();
  await upstream?.close();
  app = undefined;
  upstream = undefined;
});

async function proxyTo(
  handler: Handler,
  base?: string,
  transport: typeof fetch = loopbackFetch,
  timeoutMs = TIMEOUT_MS,
) {
  upstream = await startServer(handler);
  app = Fastify();
  installErrorHandling(app);
  const fhir = createFhirClient({
    budget: recordingBudget(),
    clock: systemClock,
    fetch: transport,
    timeoutMs,
    sleep: async () => {},
  });
  registerFhirProxyRoutes(app, {
    fhir,
    fhirTarget: async () => testTarget(base ?? `${upstream?.origin}${PATH}`),
    clock: systemClock,
    config: { publicUrl: PUBLIC },
  });
  await app.ready();
  return { app, upstream };
}

const get = (url: string, headers: Record<string, string> = {}) =>
  (app as FastifyInstance).inject({
    method: 'GET',
    url: `/api/connections/${CON}/fhir/${url}`,
    headers,
  });

/** healow's refusal of a parameter set, as its HAPI plain server pretty-prints it. */
const REFUSAL = `{
  "resourceType": "OperationOutcome",
  "text": {
    "status": "generated",
    "div": "<div xmlns=\\"http://www.w3.org/1999/xhtml\\"><h1>Operation Outcome</h1></div>"
  },
  "issue": [ {
    "severity": "error",
    "code": "processing",
    "diagnostics": "Invalid request: Does not know how to handle get operation with parameter [patient,_count]"
  } ]
}`;

describe('FHIR proxy: upstream failures', () => {
  it("passes an upstream 400 on as a 400 with the EHR's OperationOutcome, byte for byte", async () => {
    await proxyTo((_req, res) => {
      res.writeHead(400, { 'content-type': HEALOW_JSON });
      res.end(REFUSAL);
    });
    const res = await get('Observation?patient=p1&_count=50');
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.body).toBe(REFUSAL);
    expect(upstream?.received.map((r) => r.url)).toEqual([
      `${PATH}/Observation?patient=p1&_count=50`,
    ]);
  });

  it('keeps the status of a 4xx without an OperationOutcome, with an OperationOutcome of ours', async () => {
    await proxyTo((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/html' });
      res.end('<html>Not here</html>');
    });
    const res = await get('Patient/nobody');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'not-found',
          diagnostics: 'GET Patient/nobody: not found (404 Not Found)',
          details: { text: 'not_found' },
        },
      ],
    });
  });

  it('answers an upstream 500 with a 502 of ours', async () => {
    await proxyTo((_req, res) => {
      res.writeHead(500, { 'content-type': HEALOW_JSON });
      res.end(
        '{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception","diagnostics":"NullPointerException"}]}',
      );
    });
    const res = await get('Patient/p1');
    expect(res.statusCode).toBe(502);
    expect(res.json().issue[0]).toMatchObject({
      code: 'exception',
      details: { text: 'upstream_error' },
    });
    expect(res.json().issue[0].diagnostics).toBe(
      'GET Patient/p1: the FHIR server failed (500 Internal Server Error): NullPointerException',
    );
  });

  it('answers a hanging upstream with a 504 within the configured timeout, without retrying', async () => {
    await proxyTo(() => {
      // Never answers.
    });
    const started = Date.now();
    const res = await get('DocumentReference?patient=p1');
    const elapsed = Date.now() - started;
    expect(res.statusCode).toBe(504);
    expect(res.json().issue[0].diagnostics).toBe(
      `GET DocumentReference?patient=p1: no answer within ${TIMEOUT_MS} ms`,
    );
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(elapsed).toBeLessThan(TIMEOUT_MS * 2);
    expect(upstream?.received).toHaveLength(1);
  });

  it('ends the upstream call when the caller goes away before its answer', async () => {
    let upstreamClosed!: () => void;
    const ended = new Promise<void>((done) => {
      upstreamClosed = done;
    });
    const attemptMs = 20_000;
    const { app: proxy } = await proxyTo(
      (req) => {
        // Never answers; notes when the bridge drops the call.
        req.socket.once('close', () => upstreamClosed());
      },
      undefined,
      loopbackFetch,
      attemptMs,
    );
    const origin = await proxy.listen({ port: 0, host: '127.0.0.1' });
    const caller = request(`${origin}/api/connections/${CON}/fhir/Patient/p1`);
    caller.on('error', () => {});
    caller.end();
    await vi.waitFor(() => expect(upstream?.received).toHaveLength(1));
    const gone = Date.now();
    caller.destroy();
    await ended;
    // Long before the attempt's own timeout would have ended it.
    expect(Date.now() - gone).toBeLessThan(attemptMs / 2);
  });

  it('answers within Prefer: wait when the caller waits less than the timeout', async () => {
    await proxyTo(() => {});
    const started = Date.now();
    const res = await get('Condition?patient=p1', { prefer: 'wait=0' });
    expect(res.statusCode).toBe(504);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS);
  });

  it('answers a refused connection with a 502 of ours', async () => {
    const closed = await startServer(() => {});
    const base = `${closed.origin}${PATH}`;
    await closed.close();
    await proxyTo(() => {}, base);
    const res = await get('Patient/p1');
    expect(res.statusCode).toBe(502);
    expect(res.json().issue[0].diagnostics).toBe(
      'GET Patient/p1: the FHIR server could not be reached',
    );
  });
});

// A page as healow writes it: pretty-printed, links and fullUrls on the foreign host, a decimal
// with a trailing zero, keys in HAPI's order (not sorted), the search's own parameter order.
const page = (next: string) => `{
  "resourceType": "Bundle",
  "id": "0b6a2a3c-1d44-4f8e-9a39-3c5b9d0e1f21",
  "meta": {
    "lastUpdated": "2025-03-04T10:11:12.345-05:00"
  },
  "type": "searchset",
  "total": 2,
  "link": [ {
    "relation": "self",
    "url": "${FOREIGN}/Observation?category=laboratory&patient=p1"
  }, {
    "relation": "next",
    "url": "${next}"
  } ],
  "entry": [ {
    "fullUrl": "${FOREIGN}/Observation/o1",
    "resource": {
      "resourceType": "Observation",
      "id": "o1",
      "status": "final",
      "valueQuantity": {
        "value": 1.0,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L"
      }
    },
    "search": {
      "mode": "match"
    }
  }, {
    "fullUrl": "urn:uuid:7b0c0f6e-5b8c-4f1e-9d0a-2f3e4d5c6b7a",
    "resource": {
      "resourceType": "Observation",
      "id": "o2",
      "valueQuantity": { "value": 0.20 }
    }
  } ]
}`;

describe('FHIR proxy: search Bundles', () => {
  const NEXT = `${FOREIGN}?_getpages=abc-123&_getpagesoffset=50&_count=50&_bundletype=searchset`;

  it('keeps every byte of a search Bundle but its links and fullUrls, which point at the bridge', async () => {
    const sent = page(NEXT);
    await proxyTo((_req, res) => {
      res.writeHead(200, {
        'content-type': HEALOW_JSON,
        'last-modified': 'Tue, 04 Mar 2025 15:11:12 GMT',
      });
      res.end(sent);
    });
    const res = await get('Observation?category=laboratory&patient=p1');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/fhir+json; charset=utf-8');
    expect(res.headers['last-modified']).toBe('Tue, 04 Mar 2025 15:11:12 GMT');
    expect(res.body).toBe(
      sent
        .replace(`${FOREIGN}/Observation?category`, `${PROXY}/Observation?category`)
        .replace(
          NEXT,
          `${PROXY}/?_getpages=abc-123&_getpagesoffset=50&_count=50&_bundletype=searchset`,
        )
        .replace(`"fullUrl": "${FOREIGN}/Observation/o1"`, `"fullUrl": "${PROXY}/Observation/o1"`),
    );
    expect(res.body).toContain('"value": 1.0,');
    expect(res.body).toContain('"value": 0.20 }');
    expect(res.body).toContain('"fullUrl": "urn:uuid:7b0c0f6e-5b8c-4f1e-9d0a-2f3e4d5c6b7a"');
  });

  it('follows a rewritten next link to the practice base, with the token', async () => {
    await proxyTo((_req, res) => {
      res.writeHead(200, { 'content-type': HEALOW_JSON });
      res.end(page(NEXT));
    });
    const first = await get('Observation?category=laboratory&patient=p1');
    const next = first.json().link[1].url as string;
    expect(next.startsWith(`${PROXY}/`)).toBe(true);
    const second = await get(next.slice(`${PROXY}/`.length));
    expect(second.statusCode).toBe(200);
    expect(upstream?.received.map((r) => [r.url, r.authorization])).toEqual([
      [`${PATH}/Observation?category=laboratory&patient=p1`, 'Bearer at-secret-1'],
      [
        `${PATH}?_getpages=abc-123&_getpagesoffset=50&_count=50&_bundletype=searchset`,
        'Bearer at-secret-1',
      ],
    ]);
  });

  it('refuses a next link off the practice base instead of ending the search quietly', async () => {
    await proxyTo((_req, res) => {
      res.writeHead(200, { 'content-type': HEALOW_JSON });
      res.end(page('https://elsewhere.example/other/r4/X?_getpages=abc'));
    });
    const res = await get('Observation?category=laboratory&patient=p1');
    expect(res.statusCode).toBe(502);
    expect(res.json().issue[0].details.text).toBe('host_not_allowed');
  });
});

describe('FHIR proxy: host pinning', () => {
  it('never follows the EHR to another origin with the token', async () => {
    const other = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': HEALOW_JSON });
      res.end('{"resourceType":"Patient","id":"p1"}');
    });
    try {
      await proxyTo((_req, res) => {
        res.writeHead(302, { location: `${other.origin}${PATH}/Patient/p1` });
        res.end();
      });
      const res = await get('Patient/p1');
      expect(res.statusCode).toBe(502);
      expect(res.json().issue[0].details.text).toBe('host_not_allowed');
      expect(other.received).toEqual([]);
    } finally {
      await other.close();
    }
  });
});

describe("FHIR proxy: the base's other GETs", () => {
  it('passes metadata through', async () => {
    const capability =
      '{\n  "resourceType": "CapabilityStatement",\n  "fhirVersion": "4.0.1",\n  "version": 1.0\n}';
    await proxyTo((_req, res) => {
      res.writeHead(200, { 'content-type': HEALOW_JSON });
      res.end(capability);
    });
    const res = await get('metadata');
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe(capability);
    expect(upstream?.received.map((r) => r.url)).toEqual([`${PATH}/metadata`]);
  });

  it('passes .well-known/smart-configuration through as JSON', async () => {
    const config =
      '{"authorization_endpoint":"https://auth.example/authorize","capabilities":["launch-standalone"]}';
    await proxyTo((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(config);
    });
    const res = await get('.well-known/smart-configuration');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body).toBe(config);
    expect(upstream?.received.map((r) => r.url)).toEqual([
      `${PATH}/.well-known/smart-configuration`,
    ]);
  });

  it('refuses paths that are none of these', async () => {
    await proxyTo(() => {});
    for (const path of ['.well-known/../Patient', 'meta', '.well-known/', 'Patient/$everything']) {
      expect((await get(path)).statusCode, path).toBe(400);
    }
    expect(upstream?.received).toEqual([]);
  });
});

describe('FHIR proxy over the pooled transport', () => {
  const serve =
    (text: string): Handler =>
    (_req, res) => {
      res.writeHead(200, {
        'content-type': HEALOW_JSON,
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    };

  it('passes a read of modest size on byte for byte (sent as bytes, read whole)', async () => {
    const text = '{"resourceType" : "Patient", "id":"p1", "weight": 1.50}';
    await proxyTo(serve(text), undefined, pooledFetch);
    const res = await get('Patient/p1');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/fhir+json');
    expect(res.body).toBe(text);
  });

  it('passes a read larger than the buffered size on byte for byte (streamed)', async () => {
    const text = `{"resourceType":"Binary","id":"b1","data":"${'A'.repeat(BUFFERED_BODY_MAX)}"}`;
    await proxyTo(serve(text), undefined, pooledFetch);
    const res = await get('Binary/b1');
    expect(res.statusCode).toBe(200);
    expect(res.body.length).toBe(text.length);
    expect(res.body === text).toBe(true);
  });
});
