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
  if (length <= BUFFERED_BODY_MAX) {
    const bytes = await answer.body.arrayBuffer();
    return new BufferedResponse(bytes, { status: answer.statusCode, headers });
  }
  const stream = Readable.toWeb(answer.body) as ReadableStream<Uint8Array>;
  return new Response(stream, { status: answer.statusCode, headers });
};

/** Whether an answer has a body, without turning one held in memory into a stream. */
export function hasBody(res: Response): boolean {
  return res instanceof BufferedResponse || res.body !== null;
}

/**
 * A `Response` whose body is already in memory. Reading it whole (`arrayBuffer`, `text`, `json`)
 * hands over those bytes; a `Response` built on them would wrap them in a web stream and read
 * that stream back (a fair share of a proxied read's CPU). `body` still gives a stream, made
 * when first asked for, and from then on every read goes through it as for any `Response`.
 */
class BufferedResponse extends Response {
  #bytes: ArrayBuffer;
  #used = false;
  #streamed: Response | undefined;

  constructor(bytes: ArrayBuffer, init: ResponseInit) {
    super(null, init);
    this.#bytes = bytes;
  }

  /** The stream-backed answer, once something asks for the body as a stream. */
  #stream(): Response {
    this.#streamed ??= new Response(this.#used ? null : this.#bytes);
    return this.#streamed;
  }

  /** The bytes, once: a second read fails as it does on any `Response`. */
  #take(): ArrayBuffer {
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#bytes;
  }

  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    return this.#stream().body;
  }

  override get bodyUsed(): boolean {
    return this.#streamed ? this.#streamed.bodyUsed : this.#used;
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#streamed) return this.#streamed.arrayBuffer();
    return this.#take();
  }

  override async text(): Promise<string> {
    if (this.#streamed) return this.#streamed.text();
    return new TextDecoder().decode(this.#take());
  }

  override async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}
