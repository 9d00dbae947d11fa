import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUFFERED_BODY_MAX, pooledFetch } from './transport.ts';

let server: Server;
let origin: string;
const large = 'x'.repeat(BUFFERED_BODY_MAX + 1);

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/small') {
      res.writeHead(200, { 'content-type': 'application/fhir+json', 'x-seen': 'a' });
      res.end(JSON.stringify({ authorization: req.headers.authorization }));
    } else if (req.url === '/large') {
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.end(large);
    } else if (req.url === '/unsized') {
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.write('{"a":');
      res.end('1}');
    } else if (req.url === '/moved') {
      res.writeHead(302, { location: '/small' });
      res.end();
    } else if (req.url === '/repeated') {
      res.setHeader('content-type', 'application/fhir+json');
      res.setHeader('x-many', ['a', 'b']);
      res.end('{}');
    } else if (req.url === '/empty') {
      res.writeHead(204);
      res.end();
    }
    // `/hang`: no answer at all.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('pooledFetch', () => {
  it('sends the headers and answers the status, headers and body of a small answer', async () => {
    const res = await pooledFetch(`${origin}/small`, { headers: { authorization: 'Bearer t1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-seen')).toBe('a');
    expect(await res.json()).toEqual({ authorization: 'Bearer t1' });
  });

  it('answers a body larger than the buffered size and one without a length whole', async () => {
    expect(await (await pooledFetch(`${origin}/large`)).text()).toBe(large);
    expect(await (await pooledFetch(`${origin}/unsized`)).text()).toBe('{"a":1}');
  });

  it('does not follow a redirect: the client pins the target first', async () => {
    const res = await pooledFetch(`${origin}/moved`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/small');
  });

  it('hands a small body over as the bytes it read, once, or as a stream when asked for one', async () => {
    const whole = await pooledFetch(`${origin}/small`, { headers: { authorization: 'Bearer t1' } });
    const expected = JSON.stringify({ authorization: 'Bearer t1' });
    expect(Buffer.from(await whole.arrayBuffer()).toString()).toBe(expected);
    expect(whole.bodyUsed).toBe(true);
    await expect(whole.text()).rejects.toThrow(TypeError);

    const streamed = await pooledFetch(`${origin}/small`, {
      headers: { authorization: 'Bearer t1' },
    });
    const chunks: Buffer[] = [];
    for await (const chunk of streamed.body as unknown as AsyncIterable<Uint8Array>) {
      chunks.push(Buffer.from(chunk));
    }
    expect(Buffer.concat(chunks).toString()).toBe(expected);
    expect(streamed.bodyUsed).toBe(true);
  });

  it('reads headers by any case, a repeated one joined, and iterates and changes them as Headers do', async () => {
    const res = await pooledFetch(`${origin}/repeated`);
    expect(res.headers.get('X-Many')).toBe('a, b');
    expect(res.headers.has('Content-Type')).toBe(true);
    expect(res.headers.get('x-none')).toBeNull();
    const seen = new Map<string, string>();
    res.headers.forEach((value, name) => {
      seen.set(name, value);
    });
    expect(seen.get('x-many')).toBe('a, b');
    expect(seen.get('content-type')).toBe('application/fhir+json');
    res.headers.set('x-many', 'c');
    expect(res.headers.get('x-many')).toBe('c');
  });

  it('answers clone and blob on a body held in memory as a Response would', async () => {
    const res = await pooledFetch(`${origin}/small`, { headers: { authorization: 'Bearer t2' } });
    const copy = res.clone();
    expect(await res.json()).toEqual({ authorization: 'Bearer t2' });
    expect(await (await copy.blob()).text()).toBe(JSON.stringify({ authorization: 'Bearer t2' }));
  });

  it('answers a 204 without a body', async () => {
    const res = await pooledFetch(`${origin}/empty`);
    expect(res.status).toBe(204);
    expect(res.body).toBeNull();
  });

  it('ends a call that gets no answer when its signal aborts', async () => {
    const signal = AbortSignal.timeout(100);
    await expect(pooledFetch(`${origin}/hang`, { signal })).rejects.toThrow();
    expect(signal.aborted).toBe(true);
  });
});
