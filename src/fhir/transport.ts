// The FHIR client's default HTTP GET: undici's pooled `request` (the process's keep-alive
// dispatcher, the one `fetch` uses too), its answer handed over in the shape of a WHATWG
// `Response`, which the client and its readers take. `fetch` itself cost a proxied read several
// times what `request` does (its Request object, the fetch algorithm's steps, a web stream per
// body); building a `Response` and its `Headers` on undici's answer cost a proxied read about as
// much again as the rest of this file, so the answer is an object of that shape over undici's
// own headers, and a real `Response` is made only when something asks for what only one has.
// A body of known, modest size is read whole here and handed over as bytes, a larger or unsized
// one streams.
import type { IncomingHttpHeaders } from 'node:http';
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
  const headers = new RawHeaders(answer.headers);
  if (NULL_BODY.has(answer.statusCode)) {
    await answer.body.dump();
    return new PooledResponse(answer.statusCode, headers, { kind: 'none' });
  }
  const length = Number(answer.headers['content-length'] ?? Number.NaN);
  if (length <= BUFFERED_BODY_MAX) {
    const bytes = await answer.body.arrayBuffer();
    return new PooledResponse(answer.statusCode, headers, { kind: 'bytes', bytes });
  }
  return new PooledResponse(answer.statusCode, headers, { kind: 'stream', stream: answer.body });
};

/** Whether an answer has a body, without turning one held in memory into a stream. */
export function hasBody(res: Response): boolean {
  return res instanceof PooledResponse ? res.hasBody : res.body !== null;
}

/**
 * Calls `done` once the answer's body is in or given up: at once for a body read here or none,
 * when the stream closes for one that streams. False, and `done` never called, for the answer
 * of another fetch, whose body's end this cannot see.
 */
export function whenBodyDone(res: Response, done: () => void): boolean {
  if (!(res instanceof PooledResponse)) return false;
  res.whenBodyDone(done);
  return true;
}

/**
 * The answer's headers as undici parsed them (lower-case names, a repeated header as a list):
 * `get` and `has` read them as they are; anything else (iteration, changes) goes through a
 * `Headers` made from them when first asked for, and from then on every call does.
 */
class RawHeaders implements Headers {
  #raw: IncomingHttpHeaders;
  #made: Headers | undefined;

  constructor(raw: IncomingHttpHeaders) {
    this.#raw = raw;
  }

  #headers(): Headers {
    if (!this.#made) {
      this.#made = new Headers();
      for (const [name, value] of Object.entries(this.#raw)) {
        for (const one of [value ?? []].flat()) this.#made.append(name, one);
      }
    }
    return this.#made;
  }

  get(name: string): string | null {
    if (this.#made) return this.#made.get(name);
    const value = this.#raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  has(name: string): boolean {
    return this.#made ? this.#made.has(name) : this.#raw[name.toLowerCase()] !== undefined;
  }

  append(name: string, value: string): void {
    this.#headers().append(name, value);
  }

  delete(name: string): void {
    this.#headers().delete(name);
  }

  set(name: string, value: string): void {
    this.#headers().set(name, value);
  }

  getSetCookie(): string[] {
    return this.#headers().getSetCookie();
  }

  forEach(
    callback: (value: string, key: string, parent: Headers) => void,
    thisArg?: unknown,
  ): void {
    this.#headers().forEach((value, key) => {
      callback.call(thisArg, value, key, this);
    });
  }

  // Iteration is in the DOM.Iterable library, which this project does not compile against.
  keys(): IterableIterator<string> {
    return this.#iterable().keys();
  }

  values(): IterableIterator<string> {
    return this.#iterable().values();
  }

  entries(): IterableIterator<[string, string]> {
    return this.#iterable().entries();
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.#iterable().entries();
  }

  #iterable(): Map<string, string> {
    return this.#headers() as unknown as Map<string, string>;
  }
}

/** What an answer's body is: none, bytes already read, or a stream still coming in. */
type PooledBody =
  | { kind: 'none' }
  | { kind: 'bytes'; bytes: ArrayBuffer }
  | { kind: 'stream'; stream: Readable };

/**
 * An answer of undici's `request` with the members of a `Response`. Reading a body held in
 * memory whole (`arrayBuffer`, `text`, `json`) hands over those bytes, once; anything else
 * (`body` as a stream, `blob`, `clone`, a streamed body) goes through a `Response` made on the
 * body when first asked for, and from then on every read does, as on any `Response`.
 */
class PooledResponse implements Response {
  readonly status: number;
  readonly headers: Headers;
  readonly type: ResponseType = 'default';
  readonly url: string = '';
  readonly redirected: boolean = false;
  readonly statusText: string = '';
  #body: PooledBody;
  #used = false;
  #made: Response | undefined;

  constructor(status: number, headers: Headers, body: PooledBody) {
    this.status = status;
    this.headers = headers;
    this.#body = body;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status <= 299;
  }

  get hasBody(): boolean {
    return this.#body.kind !== 'none';
  }

  whenBodyDone(done: () => void): void {
    if (this.#body.kind === 'stream' && !this.#body.stream.closed) {
      this.#body.stream.once('close', done);
    } else {
      done();
    }
  }

  /** The `Response` on what is left of the body, made once. */
  #response(): Response {
    if (!this.#made) {
      const body = this.#body;
      const source =
        body.kind === 'none' || this.#used
          ? null
          : body.kind === 'bytes'
            ? body.bytes
            : (Readable.toWeb(body.stream) as ReadableStream<Uint8Array>);
      this.#made = new Response(source, { status: this.status, headers: this.headers });
    }
    return this.#made;
  }

  /** The bytes held in memory, once (a second read fails as on any `Response`); else undefined. */
  #take(): ArrayBuffer | undefined {
    if (this.#made || this.#body.kind !== 'bytes') return undefined;
    if (this.#used) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.#body.bytes;
  }

  get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    if (this.#body.kind === 'none') return null;
    return this.#response().body;
  }

  get bodyUsed(): boolean {
    return this.#made ? this.#made.bodyUsed : this.#used;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    return this.#take() ?? this.#response().arrayBuffer();
  }

  async text(): Promise<string> {
    const bytes = this.#take();
    return bytes ? new TextDecoder().decode(bytes) : this.#response().text();
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    const bytes = this.#take();
    return bytes ? new Uint8Array(bytes) : this.#response().bytes();
  }

  blob(): Promise<Blob> {
    return this.#response().blob();
  }

  formData(): Promise<FormData> {
    return this.#response().formData();
  }

  clone(): Response {
    return this.#response().clone();
  }
}
