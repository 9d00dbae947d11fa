// A streaming reader for one large JSON object with an `entry` array (a FHIR Bundle): it hands
// out each entry as soon as its text is complete, so a 15 MB directory never sits in memory as
// one tree. The two outer levels are checked here, token by token; where each entry (and each
// other top-level value) ends is found by the JSON scanner (fhir/json-scan.ts), and its text is
// checked by JSON.parse. A value cut by a chunk's end is scanned again from its start when the
// next chunk arrives: entries are small, so that costs little.
import {
  CLOSE_BRACE,
  CLOSE_BRACKET,
  COLON,
  COMMA,
  INCOMPLETE,
  isJsonSpace,
  JsonSyntaxError,
  OPEN_BRACE,
  OPEN_BRACKET,
  QUOTE,
  valueEnd,
} from '../fhir/json-scan.ts';

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
  /** Where the finished value goes: a top-level member, an entry, or a member name. */
  target: 'field' | 'entry' | 'key';
}

/**
 * Feed text with `write` (any chunking), collect the entries it returns, then call `end` for the
 * top-level members. Throws JsonStreamError on the first syntax problem.
 */
export class BundleEntryReader {
  /** The text of an unfinished value, carried to the next chunk. */
  #buf = '';
  /** Offset of the current chunk's (or carried text's) first character in the whole input. */
  #bufOffset = 0;
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
    let i = this.#capture ? this.#capture.start : 0;
    const n = buf.length;
    while (i < n) {
      const capture = this.#capture;
      if (capture) {
        const end = this.#valueEnd(buf, capture.start);
        if (end === INCOMPLETE) break; // the value goes on in the next chunk
        this.#capture = undefined;
        this.#finish(capture, buf.slice(capture.start, end), out);
        i = end;
        continue;
      }
      const c = buf.charCodeAt(i);
      if (isJsonSpace(c) || (c === 0xfeff && !this.#sawAnything)) {
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
    if (c === CLOSE_BRACE || c === CLOSE_BRACKET || c === COMMA) {
      return this.#fail('expected a value', this.#bufOffset + i);
    }
    this.#capture = { start: i, target };
    return i;
  }

  /** Where the value at `start` ends, or INCOMPLETE; a syntax error names its whole-input offset. */
  #valueEnd(buf: string, start: number): number {
    try {
      return valueEnd(buf, start);
    } catch (error) {
      if (!(error instanceof JsonSyntaxError)) throw error;
      return this.#fail(error.reason, this.#bufOffset + error.offset);
    }
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
