// A Bundle's URLs rewritten in its JSON text, every other byte kept as the EHR wrote it: parsing
// and re-serializing would turn a decimal `1.0` into `1` (FHIR decimals keep their precision,
// R4 §2.1.0 "decimal") and reformat the rest. Only `link[].url` and `entry[].fullUrl` change.
// Also each entry's resource as the server wrote it, for the sync to store.
import {
  compactValue,
  decodeString,
  JsonSyntaxError,
  readArray,
  readObject,
  skipSpace,
  skipValue,
} from './json-scan.ts';

/** A JSON string literal in the text: `[start, end)` spans the quotes. */
interface StringSpan {
  start: number;
  end: number;
  value: string;
}

/** One element of the top-level `link` array. */
interface LinkSpan {
  start: number;
  end: number;
  url?: StringSpan;
  relation?: string;
}

interface ScannedBundle {
  resourceType?: string;
  /** The top-level `link` array: positions of `[` and `]`, and its elements. */
  linkArray?: { open: number; close: number; elements: LinkSpan[] };
  fullUrls: StringSpan[];
}

const QUOTE = 0x22;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

/** The string at `at` as a span, or undefined (and nothing read) when the value is no string. */
function stringAt(text: string, at: number): StringSpan | undefined {
  if (text.charCodeAt(at) !== QUOTE) return undefined;
  const end = skipValue(text, at);
  return { start: at, end, value: decodeString(text, at, end) };
}

/** One element of `link`: its span, and its `url` and `relation` when they are strings. */
function scanLink(text: string, at: number): { link: LinkSpan; end: number } {
  const link: LinkSpan = { start: at, end: at };
  if (text.charCodeAt(at) !== OPEN_BRACE) {
    link.end = skipValue(text, at);
    return { link, end: link.end };
  }
  link.end = readObject(text, at, ({ key, valueStart }) => {
    const span = stringAt(text, valueStart);
    if (span && key === 'url') link.url = span;
    if (span && key === 'relation') link.relation = span.value;
    return span ? span.end : skipValue(text, valueStart);
  });
  return { link, end: link.end };
}

/** The `fullUrl` of each entry of `entry` that has one. */
function scanEntries(text: string, at: number, found: ScannedBundle): number {
  return readArray(text, at, (_index, elementAt) => {
    if (text.charCodeAt(elementAt) !== OPEN_BRACE) return skipValue(text, elementAt);
    return readObject(text, elementAt, ({ key, valueStart }) => {
      const span = key === 'fullUrl' ? stringAt(text, valueStart) : undefined;
      if (span) found.fullUrls.push(span);
      return span ? span.end : skipValue(text, valueStart);
    });
  });
}

/** Finds the Bundle's URLs in `text`; throws a SyntaxError when `text` is not one JSON value. */
function scanBundle(text: string): ScannedBundle {
  const found: ScannedBundle = { fullUrls: [] };
  // A byte order mark is not JSON, but some servers send one: it is kept, not read.
  const start = skipSpace(text, text.charCodeAt(0) === 0xfeff ? 1 : 0);
  let end: number;
  if (text.charCodeAt(start) !== OPEN_BRACE) {
    end = skipValue(text, start);
  } else {
    end = readObject(text, start, ({ key, valueStart }) => {
      const c = text.charCodeAt(valueStart);
      if (key === 'link' && c === OPEN_BRACKET) {
        const elements: LinkSpan[] = [];
        const close = readArray(text, valueStart, (_index, elementAt) => {
          const { link, end: after } = scanLink(text, elementAt);
          elements.push(link);
          return after;
        });
        found.linkArray = { open: valueStart, close: close - 1, elements };
        return close;
      }
      if (key === 'entry' && c === OPEN_BRACKET) return scanEntries(text, valueStart, found);
      const span = key === 'resourceType' ? stringAt(text, valueStart) : undefined;
      if (span) found.resourceType = span.value;
      return span ? span.end : skipValue(text, valueStart);
    });
  }
  if (skipSpace(text, end) !== text.length) {
    throw new JsonSyntaxError('unexpected text after the JSON value', skipSpace(text, end));
  }
  return found;
}

export interface BundleUrlRewrite {
  /** The new URL of a `link` element, or null to leave the element out. */
  link(url: string, relation: string | undefined): string | null;
  /** The new `entry.fullUrl` (the same string to keep it). */
  fullUrl(url: string): string;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

function applyEdits(text: string, edits: Edit[], from = 0, to = text.length): string {
  let out = '';
  let at = from;
  for (const edit of [...edits].sort((a, b) => a.start - b.start)) {
    if (edit.start < from || edit.end > to) continue;
    out += text.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  return out + text.slice(at, to);
}

/**
 * `text` with its links and fullUrls rewritten, or undefined when it is not a Bundle. A left-out
 * link takes its separator with it; the remaining elements keep theirs. Throws a SyntaxError when
 * `text` is not JSON.
 */
export function rewriteBundleUrls(text: string, rewrite: BundleUrlRewrite): string | undefined {
  const bundle = scanBundle(text);
  if (bundle.resourceType !== 'Bundle') return undefined;
  const edits: Edit[] = [];
  const replace = (span: StringSpan, url: string) => {
    if (url !== span.value)
      edits.push({ start: span.start, end: span.end, text: JSON.stringify(url) });
  };
  for (const span of bundle.fullUrls) replace(span, rewrite.fullUrl(span.value));

  const links = bundle.linkArray;
  if (links) {
    const kept: Array<{ element: LinkSpan; edits: Edit[] }> = [];
    for (const element of links.elements) {
      if (!element.url) {
        kept.push({ element, edits: [] });
        continue;
      }
      const url = rewrite.link(element.url.value, element.relation);
      if (url === null) continue;
      const own: Edit[] = [];
      if (url !== element.url.value) {
        own.push({ start: element.url.start, end: element.url.end, text: JSON.stringify(url) });
      }
      kept.push({ element, edits: own });
    }
    if (kept.length === links.elements.length) {
      for (const k of kept) edits.push(...k.edits);
    } else {
      // Rebuilt from the original pieces: the text before the first element, each kept element
      // with the separator that preceded it, and the text after the last one.
      const all = links.elements;
      const first = all[0];
      const last = all[all.length - 1];
      let inner = '';
      if (first && last && kept.length > 0) {
        inner = text.slice(links.open + 1, first.start);
        kept.forEach(({ element, edits: own }, n) => {
          if (n > 0) {
            const previous = all[all.indexOf(element) - 1];
            inner += text.slice(previous?.end ?? element.start, element.start);
          }
          inner += applyEdits(text, own, element.start, element.end);
        });
        inner += text.slice(last.end, links.close);
      }
      edits.push({ start: links.open + 1, end: links.close, text: inner });
    }
  }
  return applyEdits(text, edits);
}

/**
 * The text of each entry's `resource` in a Bundle, compacted (whitespace between tokens removed,
 * so a pretty-printed page still gives one line per resource), index-aligned with `entry`
 * (undefined for an entry without one). Cut out of the body rather than re-serialized:
 * JSON.stringify(JSON.parse(x)) is not x (decimals keep their precision, `98.60`; escapes,
 * number forms and integer-like keys would change). As with JSON.parse, a repeated key's last
 * value counts. Throws a SyntaxError when the text is not the JSON object it should be.
 */
export function entryResourceTexts(text: string): Array<string | undefined> {
  let texts: Array<string | undefined> = [];
  readObject(text, skipSpace(text, 0), ({ key, valueStart }) => {
    if (key !== 'entry' || text.charCodeAt(valueStart) !== OPEN_BRACKET) {
      return skipValue(text, valueStart);
    }
    const found: Array<string | undefined> = [];
    const end = readArray(text, valueStart, (index, elementAt) => {
      found[index] = undefined;
      if (text.charCodeAt(elementAt) !== OPEN_BRACE) return skipValue(text, elementAt);
      return readObject(text, elementAt, (member) => {
        if (member.key !== 'resource') return skipValue(text, member.valueStart);
        const value = compactValue(text, member.valueStart);
        found[index] = value.text;
        return value.end;
      });
    });
    texts = found;
    return end;
  });
  return texts;
}
