// JSON text read by position, without building values: where whitespace, a string or any value
// ends, an object's members and an array's elements as places in the text, and a value's text
// without the whitespace between tokens. The Bundle readers keep the server's own bytes this way
// (the sync's entry texts and the proxy's URL rewrite in bundle-text.ts, the directory's
// streaming reader in practices/bundle-stream.ts) and leave checking values to JSON.parse where
// they need values.

/** What the scans answer when the text ends before the value does. */
export const INCOMPLETE = -1;

/** The character codes of JSON's structural characters. */
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;
export const COLON = 0x3a;
export const COMMA = 0x2c;

export function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The first index at or after `i` that is not whitespace. */
export function skipSpace(text: string, i: number): number {
  while (i < text.length && isJsonSpace(text.charCodeAt(i))) i++;
  return i;
}

/** `i` at an opening quote: the index after the closing one, or INCOMPLETE. */
export function stringEnd(text: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return INCOMPLETE;
    let slashes = 0;
    for (let k = quote - 1; k > i && text.charCodeAt(k) === BACKSLASH; k--) slashes++;
    if (slashes % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/**
 * The index after the value that starts at `i`, or INCOMPLETE when the text ends first (a number
 * or literal at the very end is incomplete too: more of it may follow). Only quotes and brackets
 * are matched; a number or literal runs to the next delimiter and JSON.parse judges it. Throws a
 * JsonSyntaxError where no value starts.
 */
export function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return stringEnd(text, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) return containerEnd(text, i);
  if (isDelimiter(c)) throw new JsonSyntaxError('expected a JSON value', i);
  let j = i;
  while (j < text.length && !isDelimiter(text.charCodeAt(j))) j++;
  return j === text.length ? INCOMPLETE : j;
}

function isDelimiter(c: number): boolean {
  return c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === COLON || isJsonSpace(c);
}

function containerEnd(text: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) {
      j = stringEnd(text, j);
      if (j === INCOMPLETE) return INCOMPLETE;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return INCOMPLETE;
}

/** A syntax error at a character offset of the text. */
export class JsonSyntaxError extends SyntaxError {
  override readonly name = 'JsonSyntaxError';
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {
    super(`${reason} at offset ${offset}`);
  }
}

/** `end` of a value in a complete text: INCOMPLETE there is an error. */
function complete(end: number, at: number): number {
  if (end === INCOMPLETE) throw new JsonSyntaxError('unexpected end of input', at);
  return end;
}

/** One member of an object: its key (decoded), and where the key and the value start. */
export interface Member {
  key: string;
  keyStart: number;
  valueStart: number;
}

/**
 * Calls `member` for each member of the object at `i` (whitespace before it skipped); `member`
 * returns the index after the value (`skipValue` for one it does not read). Returns the index
 * after the object. For a complete text: throws a JsonSyntaxError on anything else.
 */
export function readObject(text: string, i: number, member: (m: Member) => number): number {
  if (text.charCodeAt(i) !== OPEN_BRACE) throw new JsonSyntaxError('expected "{"', i);
  let j = skipSpace(text, i + 1);
  if (text.charCodeAt(j) === CLOSE_BRACE) return j + 1;
  for (;;) {
    if (text.charCodeAt(j) !== QUOTE) throw new JsonSyntaxError('expected a member name', j);
    const keyEnd = complete(stringEnd(text, j), j);
    const key = decodeString(text, j, keyEnd);
    const colon = skipSpace(text, keyEnd);
    if (text.charCodeAt(colon) !== COLON) throw new JsonSyntaxError('expected ":"', colon);
    const valueStart = skipSpace(text, colon + 1);
    j = skipSpace(text, member({ key, keyStart: j, valueStart }));
    const c = text.charCodeAt(j);
    if (c === CLOSE_BRACE) return j + 1;
    if (c !== COMMA) throw new JsonSyntaxError('expected "," or "}"', j);
    j = skipSpace(text, j + 1);
  }
}

/** Like readObject, for each element of the array at `i`. */
export function readArray(
  text: string,
  i: number,
  element: (index: number, at: number) => number,
): number {
  if (text.charCodeAt(i) !== OPEN_BRACKET) throw new JsonSyntaxError('expected "["', i);
  let j = skipSpace(text, i + 1);
  if (text.charCodeAt(j) === CLOSE_BRACKET) return j + 1;
  for (let index = 0; ; index++) {
    j = skipSpace(text, element(index, j));
    const c = text.charCodeAt(j);
    if (c === CLOSE_BRACKET) return j + 1;
    if (c !== COMMA) throw new JsonSyntaxError('expected "," or "]"', j);
    j = skipSpace(text, j + 1);
  }
}

/** The index after the value at `i` of a complete text. */
export function skipValue(text: string, i: number): number {
  return complete(valueEnd(text, i), i);
}

/** The string at `[start, end)` (quotes included), decoded. */
export function decodeString(text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end - 1);
  return raw.includes('\\') ? (JSON.parse(text.slice(start, end)) as string) : raw;
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
      const after = stringEnd(text, i);
      if (after === INCOMPLETE || after > end) return out + text.slice(from, end);
      i = after;
      continue;
    }
    if (isJsonSpace(c)) {
      out += text.slice(from, i);
      while (i < end && isJsonSpace(text.charCodeAt(i))) i++;
      from = i;
      continue;
    }
    i++;
  }
  return from === start ? text.slice(start, end) : out + text.slice(from, end);
}

/**
 * The value at `i` of a complete text without the whitespace between its tokens, and the index
 * after it: `skipValue` and `compactJson` in one pass over the value.
 */
export function compactValue(text: string, i: number): { text: string; end: number } {
  const c = text.charCodeAt(i);
  if (c !== OPEN_BRACE && c !== OPEN_BRACKET) {
    const end = skipValue(text, i);
    return { text: text.slice(i, end), end };
  }
  let out = '';
  let from = i;
  let depth = 0;
  let j = i;
  while (j < text.length) {
    const d = text.charCodeAt(j);
    if (d === QUOTE) {
      // Skip the string whole: whitespace inside it is data.
      j = complete(stringEnd(text, j), j);
      continue;
    }
    if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
    else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) {
        const end = j + 1;
        return { text: from === i ? text.slice(i, end) : out + text.slice(from, end), end };
      }
    } else if (isJsonSpace(d)) {
      out += text.slice(from, j);
      while (j < text.length && isJsonSpace(text.charCodeAt(j))) j++;
      from = j;
      continue;
    }
    j++;
  }
  throw new JsonSyntaxError('unexpected end of input', i);
}
