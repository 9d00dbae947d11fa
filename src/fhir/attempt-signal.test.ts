// One attempt's abort signal over the pooled transport: the caller's signal is let go once the
// body is in, read here or streamed, and the timeout still ends a body that stops coming.
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { createFhirClient } from './client.ts';
import {
  recordingBudget,
  sendJson,
  serversPerTest,
  testTarget,
} from './http-server.test-helper.ts';
import { BUFFERED_BODY_MAX, pooledFetch } from './transport.ts';

const PATH = '/fhir/r4/JAFJCD';
const opts = { priority: 'interactive' } as const;
const serve = serversPerTest();

function client(timeoutMs = 30_000) {
  return createFhirClient({
    budget: recordingBudget(),
    clock: new ManualClock(Date.UTC(2026, 0, 1)),
    fetch: pooledFetch,
    timeoutMs,
  });
}

const listeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;

describe('an attempt’s signal over the pooled transport', () => {
  it('lets go of the caller’s signal once a body read whole is in', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, { resourceType: 'Patient' }));
    const caller = new AbortController();
    const fhir = client();
    const target = testTarget(`${server.origin}${PATH}`);
    for (let i = 0; i < 3; i++) {
      await fhir.readJson(target, 'Patient/1', { ...opts, signal: caller.signal });
    }
    expect(listeners(caller.signal)).toBe(0);
  });

  it('holds the caller’s signal while a large body streams, and lets go when it ends', async () => {
    const large = JSON.stringify({ resourceType: 'Patient', note: 'x'.repeat(BUFFERED_BODY_MAX) });
    const server = await serve((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/fhir+json',
        'content-length': Buffer.byteLength(large),
      });
      res.end(large);
    });
    const caller = new AbortController();
    const res = await client().request(testTarget(`${server.origin}${PATH}`), 'Patient/1', {
      ...opts,
      signal: caller.signal,
    });
    expect(listeners(caller.signal)).toBe(1);
    expect((await res.text()).length).toBe(large.length);
    await new Promise((resolve) => setImmediate(resolve));
    expect(listeners(caller.signal)).toBe(0);
  });

  it('ends a body that stops coming when the attempt’s time is up', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/fhir+json',
        'content-length': BUFFERED_BODY_MAX + 10,
      });
      res.write('{"resourceType":');
    });
    const res = await client(200).request(testTarget(`${server.origin}${PATH}`), 'Patient/1', opts);
    const error = await res.text().then(
      () => undefined,
      (cause: unknown) => cause,
    );
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe('TimeoutError');
  });
});
