// A streaming reader for one large JSON object with an `entry` array (a FHIR Bundle): it hands
// out each entry as soon as its text is complete, so a 15 MB directory never sits in memory as
// one tree. The two outer levels are checked here, token by token; each entry (and each other
// top-level value) is checked by JSON.parse of its own text.

/** A syntax error at a character offset of the input, for messages like "not JSON at 1234". */
export class JsonStreamError extends Error {
  override readonly name = 'JsonStreamError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at character ${offset}`);
  }
}

export interface BundleTop {
  /** Every top-level member except `entry`, parsed (`resourceType`, `type`, `total`, ...). */
  fields: Record<string, unknown>;
  /** Whether a top-level `entry` member was seen, and whether it was an array. */
  entry: 'absent' | 'array' | 'not-array';
  /** How many entries were handed out. */
  entries: number;
}

type State =
  | 'start'
  | 'keyOrEnd'
  | 'key'
  | 'colon'
  | 'value'
  | 'commaOrEnd'
  | 'entryOrEnd'
  | 'entry'
  | 'entryCommaOrEnd'
  | 'done';

interface Capture {
  /** Index into `buf` where the value's text starts. */
  start: number;
  kind: 'container' | 'string' | 'scalar';
  depth: number;
  inString: boolean;
  escaped: boolean;
  /** Where the finished value goes: a top-level member, an entry, or a member name. */
  target: 'field' | 'entry' | 'key';
}

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;

/**
 * Feed text with `write` (any chunking), collect the entries it returns, then call `end` for the
 * top-level members. Throws JsonStreamError on the first syntax problem.
 */
export class BundleEntryReader {
  /** The text of an unfinished value, carried to the next chunk. */
  #buf = '';
  /** Offset of the current chunk's (or carried text's) first character in the whole input. */
  #bufOffset = 0;
  /** Where scanning resumes in the carried text. */
  #scanFrom = 0;
  /** Index of the next backslash in the current chunk's text (-1: not looked up yet). */
  #nextBackslash = -1;
  #state: State = 'start';
  #capture: Capture | undefined;
  #key = '';
  #fields: Record<string, unknown> = {};
  #entry: BundleTop['entry'] = 'absent';
  #entries = 0;
  #sawAnything = false;

  /** Reads `text`; returns the entries completed by it, in order. */
  write(text: string): unknown[] {
    const out: unknown[] = [];
    // Only an unfinished value's text is carried over from the previous chunk.
    const buf = this.#capture ? this.#buf + text : text;
    this.#nextBackslash = -1; // a new text: positions of the old one mean nothing
    let i = this.#capture ? this.#scanFrom : 0;
    const n = buf.length;
    while (i < n) {
      const capture = this.#capture;
      if (capture) {
        i = this.#scanCapture(capture, buf, i);
        if (this.#capture) break; // the value goes on in the next chunk
        this.#finish(capture, buf.slice(capture.start, i), out);
        continue;
      }
      const c = buf.charCodeAt(i);
      if (isSpace(c) || (c === 0xfeff && !this.#sawAnything)) {
        i++;
        continue;
      }
      this.#sawAnything = true;
      i = this.#step(c, buf, i);
    }
    const capture = this.#capture;
    if (capture) {
      this.#bufOffset += capture.start;
      this.#buf = buf.slice(capture.start);
      this.#scanFrom = i - capture.start;
      capture.start = 0;
    } else {
      this.#bufOffset += n;
      this.#buf = '';
    }
    return out;
  }

  /** The top-level members; throws if the text ended before the object did. */
  end(): BundleTop {
    if (this.#state !== 'done' || this.#capture) {
      this.#fail(
        this.#sawAnything ? 'unexpected end of input' : 'empty input',
        this.#bufOffset + this.#buf.length,
      );
    }
    return { fields: this.#fields, entry: this.#entry, entries: this.#entries };
  }

  #fail(message: string, offset: number): never {
    throw new JsonStreamError(message, offset);
  }

  /** One structural character of the two outer levels; returns the next index. */
  #step(c: number, buf: string, i: number): number {
    const at = this.#bufOffset + i;
    switch (this.#state) {
      case 'start':
        if (c === OPEN_BRACE) {
          this.#state = 'keyOrEnd';
          return i + 1;
        }
        return this.#fail(
          c === OPEN_BRACKET ? 'expected a JSON object, found an array' : 'expected a JSON object',
          at,
        );
      case 'keyOrEnd':
      case 'key':
        if (c === QUOTE) return this.#begin(buf, i, 'key');
        if (c === CLOSE_BRACE && this.#state === 'keyOrEnd') {
          this.#state = 'done';
          return i + 1;
        }
        return this.#fail('expected a member name', at);
      case 'colon':
        if (c === COLON) {
          this.#state = 'value';
          return i + 1;
        }
        return this.#fail("expected ':'", at);
      case 'value':
        if (this.#key === 'entry' && c === OPEN_BRACKET) {
          this.#entry = 'array';
          this.#state = 'entryOrEnd';
          return i + 1;
        }
        return this.#begin(buf, i, 'field');
      case 'commaOrEnd':
        if (c === COMMA) {
          this.#state = 'key';
          return i + 1;
        }
        if (c === CLOSE_BRACE) {
          this.#state = 'done';
          return i + 1;
        }
        return this.#fail("expected ',' or '}'", at);
      case 'entryOrEnd':
      case 'entry':
        if (c === CLOSE_BRACKET && this.#state === 'entryOrEnd') {
          this.#state = 'commaOrEnd';
          return i + 1;
        }
        return this.#begin(buf, i, 'entry');
      case 'entryCommaOrEnd':
        if (c === COMMA) {
          this.#state = 'entry';
          return i + 1;
        }
        if (c === CLOSE_BRACKET) {
          this.#state = 'commaOrEnd';
          return i + 1;
        }
        return this.#fail("expected ',' or ']' in entry", at);
      case 'done':
        return this.#fail('unexpected text after the end of the object', at);
    }
  }

  #begin(buf: string, i: number, target: Capture['target']): number {
    const c = buf.charCodeAt(i);
    const kind: Capture['kind'] =
      c === OPEN_BRACE || c === OPEN_BRACKET ? 'container' : c === QUOTE ? 'string' : 'scalar';
    if (kind === 'scalar' && (c === CLOSE_BRACE || c === CLOSE_BRACKET || c === COMMA)) {
      return this.#fail('expected a value', this.#bufOffset + i);
    }
    this.#capture = { start: i, kind, depth: 0, inString: false, escaped: false, target };
    if (kind === 'container') this.#capture.depth = 1;
    if (kind === 'string') this.#capture.inString = true;
    return i + 1;
  }

  /** Scans a captured value; returns the index after it, leaving `#capture` set if unfinished. */
  #scanCapture(capture: Capture, buf: string, from: number): number {
    const n = buf.length;
    let i = from;
    if (capture.kind === 'scalar') {
      while (i < n) {
        const c = buf.charCodeAt(i);
        if (isSpace(c) || c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET) {
          this.#capture = undefined;
          return i;
        }
        i++;
      }
      return i;
    }
    // Strings and containers: only quotes, escapes and brackets matter; JSON.parse checks the rest.
    let { depth, inString, escaped } = capture;
    // Most of a directory is string content: jump from quote to quote with indexOf, stepping
    // one character at a time only at backslashes (the next one is remembered per chunk, so a
    // chunk without any is searched once, not once per entry).
    let nextBackslash = this.#nextBackslash;
    while (i < n) {
      if (inString && !escaped) {
        const quote = buf.indexOf('"', i);
        if (nextBackslash < i) {
          nextBackslash = buf.indexOf('\\', i);
          if (nextBackslash === -1) nextBackslash = n;
        }
        if (quote === -1 && nextBackslash === n) {
          i = n;
          break;
        }
        if (quote !== -1 && quote < nextBackslash) {
          i = quote + 1;
          inString = false;
          if (depth === 0) {
            this.#nextBackslash = nextBackslash;
            this.#capture = undefined;
            return i;
          }
          continue;
        }
        i = nextBackslash + 1;
        escaped = true;
        continue;
      }
      const c = buf.charCodeAt(i++);
      if (inString) {
        escaped = false; // the escaped character itself
      } else if (c === QUOTE) inString = true;
      else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) {
          this.#nextBackslash = nextBackslash;
          this.#capture = undefined;
          return i;
        }
      }
    }
    this.#nextBackslash = nextBackslash;
    capture.depth = depth;
    capture.inString = inString;
    capture.escaped = escaped;
    return i;
  }

  #finish(capture: Capture, text: string, out: unknown[]): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      // JSON.parse names a position inside `text`; report it against the whole input.
      const inner = /position (\d+)/.exec((error as Error).message);
      this.#fail('invalid JSON', this.#bufOffset + capture.start + Number(inner?.[1] ?? 0));
    }
    switch (capture.target) {
      case 'key':
        this.#key = value as string;
        this.#state = 'colon';
        return;
      case 'field':
        if (this.#key === 'entry') this.#entry = 'not-array';
        else this.#fields[this.#key] = value;
        this.#state = 'commaOrEnd';
        return;
      case 'entry':
        this.#entries++;
        out.push(value);
        this.#state = 'entryCommaOrEnd';
        return;
    }
  }
}
