// The FHIR client's default HTTP GET: undici's pooled `request` (the process's keep-alive
// dispatcher, the one `fetch` uses too) answered as a WHATWG `Response`, the shape the client and
// its readers take. `fetch` itself cost a proxied read several times what `request` does (its
// Request object, the fetch algorithm's steps, a web stream per body); a body of known, modest
// size is read whole here and handed over as bytes, a larger or unsized one streams.
import { Readable } from 'node:stream';
import { request } from 'undici';

/** Bodies up to this many bytes (by Content-Length) are read before the answer is handed over. */
export const BUFFERED_BODY_MAX = 1024 * 1024;

/** Statuses whose answers have no body (Fetch standard, "null body status"). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * `fetch` for a GET with headers and a signal, on undici's `request`. Redirects are never
 * followed (the FHIR client pins and follows them itself); the signal ends the call, body read
 * included while it is read here.
 */
export const pooledFetch: typeof fetch = async (input, init = {}) => {
  const url = input instanceof Request ? input.url : String(input);
  const answer = await request(url, {
    method: 'GET',
    headers: init.headers as Record<string, string> | undefined,
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    for (const one of [value ?? []].flat()) headers.append(name, one);
  }
  if (NULL_BODY.has(answer.statusCode)) {
    await answer.body.dump();
    return new Response(null, { status: answer.statusCode, headers });
  }
  const length = Number(answer.headers['content-length'] ?? Number.NaN);
  const body =
    length <= BUFFERED_BODY_MAX
      ? await answer.body.arrayBuffer()
      : (Readable.toWeb(answer.body) as ReadableStream<Uint8Array>);
  return new Response(body, { status: answer.statusCode, headers });
};
