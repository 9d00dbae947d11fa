import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import { pageResources, readBodyWithin } from './pages.ts';

function streamed(chunks: string[], headers: Record<string, string> = {}): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
      controller.close();
    },
  });
  return new Response(body, { headers });
}

describe('readBodyWithin', () => {
  it('reads a body within the cap, multi-byte characters across chunks included', async () => {
    const bytes = Buffer.from('{"a":"café"}');
    const res = new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(bytes.subarray(0, 10)); // cuts é in half
          controller.enqueue(bytes.subarray(10));
          controller.close();
        },
      }),
    );
    expect(await readBodyWithin(res, 100, 'GET x')).toBe('{"a":"café"}');
  });

  it('refuses a body over the cap, declared or streamed', async () => {
    const declared = await readBodyWithin(
      streamed(['x'], { 'content-length': '1000' }),
      10,
      'GET x',
    ).catch((e: unknown) => e);
    expect(isBridgeError(declared, 'upstream_error')).toBe(true);
    expect((declared as { details: unknown }).details).toEqual({ tooLarge: true });
    const streamedOver = await readBodyWithin(streamed(['12345', '67890', 'x']), 10, 'GET x').catch(
      (e: unknown) => e,
    );
    expect((streamedOver as { details: unknown }).details).toEqual({ tooLarge: true });
  });
});

describe('readBodyWithin, a body of declared size', () => {
  const declared = (chunks: string[], length: number) =>
    streamed(chunks, { 'content-length': String(length) });

  it('gives its text, multi-byte characters included', async () => {
    const text = '{"a":"café"}';
    const res = declared([text.slice(0, 8), text.slice(8)], Buffer.byteLength(text));
    expect(await readBodyWithin(res, 100, 'GET x')).toBe(text);
  });

  it('refuses one longer than it declared when it is over the cap', async () => {
    const error = await readBodyWithin(declared(['12345', '67890', 'x'], 5), 10, 'GET x').catch(
      (e: unknown) => e,
    );
    expect((error as { details: unknown }).details).toEqual({ tooLarge: true });
  });

  it('names a body that broke off an upstream error', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"a"'));
        controller.error(new Error('socket closed'));
      },
    });
    const res = new Response(body, { headers: { 'content-length': '20' } });
    const error = await readBodyWithin(res, 100, 'GET x').catch((e: unknown) => e);
    expect(isBridgeError(error, 'upstream_error')).toBe(true);
    expect((error as Error).message).toBe('GET x: the body broke off');
  });
});

describe('pageResources', () => {
  it('pairs each parsed resource with its text, apart from what _include added, OperationOutcome entries left out', () => {
    const text =
      '{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"OperationOutcome"},"search":{"mode":"outcome"}},{"resource":{"resourceType":"Condition","id":"c1","onsetDateTime":"2024"}},{"resource":{"resourceType":"Practitioner","id":"p1"},"search":{"mode":"include"}}]}';
    const bundle = JSON.parse(text);
    expect(pageResources(text, bundle, 'GET x')).toEqual({
      matches: [
        {
          resource: { resourceType: 'Condition', id: 'c1', onsetDateTime: '2024' },
          json: '{"resourceType":"Condition","id":"c1","onsetDateTime":"2024"}',
        },
      ],
      included: [
        {
          resource: { resourceType: 'Practitioner', id: 'p1' },
          json: '{"resourceType":"Practitioner","id":"p1"}',
        },
      ],
    });
  });

  it('refuses a resource without an id', () => {
    const text = '{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Condition"}}]}';
    expect(() => pageResources(text, JSON.parse(text), 'GET x')).toThrow(/without an id/);
  });
});
