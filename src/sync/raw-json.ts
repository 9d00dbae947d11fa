// The resources of a Bundle as the server wrote them: the text of each `entry[i].resource`, cut
// out of the response body instead of re-serialized. JSON.stringify(JSON.parse(x)) is not x:
// FHIR decimals keep their precision (`98.60`, `1.0`), and escapes, number forms and
// integer-like keys would change. Only insignificant whitespace between tokens is removed,
// so a pretty-printed page still gives one-line resources (NDJSON needs that).

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

class Scanner {
  constructor(readonly text: string) {}

  fail(at: number): never {
    throw new SyntaxError(`unexpected JSON at offset ${at}`);
  }

  ws(i: number): number {
    const t = this.text;
    while (i < t.length && isSpace(t.charCodeAt(i))) i++;
    return i;
  }

  /** `i` at an opening quote; returns the index after the closing one. */
  string(i: number): number {
    const t = this.text;
    let j = i + 1;
    for (;;) {
      const q = t.indexOf('"', j);
      if (q < 0) this.fail(i);
      let slashes = 0;
      for (let k = q - 1; k > i && t.charCodeAt(k) === BACKSLASH; k--) slashes++;
      if (slashes % 2 === 0) return q + 1;
      j = q + 1;
    }
  }

  /** Skips any value starting at `i` (after whitespace); returns the index after it. */
  value(i: number): number {
    const t = this.text;
    const c = t.charCodeAt(i);
    if (c === QUOTE) return this.string(i);
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      let depth = 0;
      let j = i;
      while (j < t.length) {
        const d = t.charCodeAt(j);
        if (d === QUOTE) {
          j = this.string(j);
          continue;
        }
        if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
        else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
          depth--;
          if (depth === 0) return j + 1;
        }
        j++;
      }
      this.fail(i);
    }
    // A number or a literal: runs to the next delimiter.
    let j = i;
    while (j < t.length) {
      const d = t.charCodeAt(j);
      if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || isSpace(d)) break;
      j++;
    }
    if (j === i) this.fail(i);
    return j;
  }

  /**
   * Calls `member(key, valueStart)` for each member of the object at `i`; `member` returns the
   * index after the value. Returns the index after the object.
   */
  object(i: number, member: (key: string, at: number) => number): number {
    const t = this.text;
    if (t.charCodeAt(i) !== OPEN_BRACE) this.fail(i);
    let j = this.ws(i + 1);
    if (t.charCodeAt(j) === CLOSE_BRACE) return j + 1;
    for (;;) {
      if (t.charCodeAt(j) !== QUOTE) this.fail(j);
      const keyEnd = this.string(j);
      const key = t.slice(j + 1, keyEnd - 1);
      j = this.ws(keyEnd);
      if (t.charCodeAt(j) !== COLON) this.fail(j);
      j = this.ws(member(key, this.ws(j + 1)));
      const c = t.charCodeAt(j);
      if (c === CLOSE_BRACE) return j + 1;
      if (c !== COMMA) this.fail(j);
      j = this.ws(j + 1);
    }
  }

  /** Calls `element(index, at)` for each element of the array at `i`. */
  array(i: number, element: (index: number, at: number) => number): number {
    const t = this.text;
    if (t.charCodeAt(i) !== OPEN_BRACKET) this.fail(i);
    let j = this.ws(i + 1);
    if (t.charCodeAt(j) === CLOSE_BRACKET) return j + 1;
    for (let index = 0; ; index++) {
      j = this.ws(element(index, j));
      const c = t.charCodeAt(j);
      if (c === CLOSE_BRACKET) return j + 1;
      if (c !== COMMA) this.fail(j);
      j = this.ws(j + 1);
    }
  }
}

/** `text.slice(start, end)` without whitespace outside strings. */
export function compactJson(text: string, start = 0, end = text.length): string {
  let out = '';
  let from = start;
  let i = start;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string whole: whitespace inside it is data.
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0 || q >= end) return out + text.slice(from, end);
        let slashes = 0;
        for (let k = q - 1; k > i && text.charCodeAt(k) === BACKSLASH; k--) slashes++;
        j = q + 1;
        if (slashes % 2 === 0) break;
      }
      i = j;
      continue;
    }
    if (isSpace(c)) {
      out += text.slice(from, i);
      while (i < end && isSpace(text.charCodeAt(i))) i++;
      from = i;
      continue;
    }
    i++;
  }
  return from === start ? text.slice(start, end) : out + text.slice(from, end);
}

/**
 * The text of each entry's `resource` in a Bundle, compacted, index-aligned with `entry`
 * (undefined for an entry without one). As with JSON.parse, a repeated key's last value counts.
 * Throws a SyntaxError when the text is not the JSON object it should be.
 */
export function entryResourceTexts(text: string): Array<string | undefined> {
  const scanner = new Scanner(text);
  let texts: Array<string | undefined> = [];
  const start = scanner.ws(0);
  scanner.object(start, (key, at) => {
    if (key !== 'entry' || text.charCodeAt(at) !== OPEN_BRACKET) return scanner.value(at);
    const found: Array<string | undefined> = [];
    const end = scanner.array(at, (index, elementAt) => {
      found[index] = undefined;
      if (text.charCodeAt(elementAt) !== OPEN_BRACE) return scanner.value(elementAt);
      return scanner.object(elementAt, (entryKey, valueAt) => {
        const valueEnd = scanner.value(valueAt);
        if (entryKey === 'resource') found[index] = compactJson(text, valueAt, valueEnd);
        return valueEnd;
      });
    });
    texts = found;
    return end;
  });
  return texts;
}
