// A Bundle's URLs rewritten in its JSON text, every other byte kept as the EHR wrote it: parsing
// and re-serializing would turn a decimal `1.0` into `1` (FHIR decimals keep their precision,
// R4 §2.1.0 "decimal") and reformat the rest. Only `link[].url` and `entry[].fullUrl` change.

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

type Context = 'root' | 'link-array' | 'link' | 'entry-array' | 'entry' | 'other';

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERAL = /true|false|null/y;
const WHITESPACE = /[ \t\n\r]*/y;

/** Finds the Bundle's URLs in `text`; throws a SyntaxError when `text` is not one JSON value. */
function scanBundle(text: string): ScannedBundle {
  const found: ScannedBundle = { fullUrls: [] };
  // A byte order mark is not JSON, but some servers send one: it is kept, not read.
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  const skipWhitespace = () => {
    WHITESPACE.lastIndex = i;
    WHITESPACE.exec(text);
    i = WHITESPACE.lastIndex;
  };
  const expect = (char: string) => {
    if (text[i] !== char) fail(`expected "${char}"`);
    i++;
  };

  const string = (): StringSpan => {
    const start = i;
    expect('"');
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c)) fail('unterminated string');
      if (c === 0x22) break;
      if (c < 0x20) fail('control character in a string');
      // An escape: the next character is part of it (`\"`, `\\`, `\u` then plain hex digits).
      i += c === 0x5c ? 2 : 1;
    }
    i++;
    return { start, end: i, value: JSON.parse(text.slice(start, i)) as string };
  };

  const primitive = (pattern: RegExp) => {
    pattern.lastIndex = i;
    if (!pattern.test(text)) return false;
    i = pattern.lastIndex;
    return true;
  };

  /** Reads one value; returns its span when it is a string. */
  const value = (context: Context): StringSpan | undefined => {
    skipWhitespace();
    const c = text[i];
    if (c === '{') object(context);
    else if (c === '[') array(context);
    else if (c === '"') return string();
    else if (!primitive(NUMBER) && !primitive(LITERAL)) fail('expected a JSON value');
    return undefined;
  };

  const childOf = (context: Context, key: string): Context => {
    if (context === 'root' && key === 'link') return 'link-array';
    if (context === 'root' && key === 'entry') return 'entry-array';
    return 'other';
  };

  const object = (context: Context): LinkSpan | undefined => {
    const link: LinkSpan | undefined = context === 'link' ? { start: i, end: i } : undefined;
    expect('{');
    skipWhitespace();
    if (text[i] === '}') i++;
    else {
      for (;;) {
        skipWhitespace();
        const key = string().value;
        skipWhitespace();
        expect(':');
        const span = value(childOf(context, key));
        if (span && context === 'root' && key === 'resourceType') found.resourceType = span.value;
        if (span && link && key === 'url') link.url = span;
        if (span && link && key === 'relation') link.relation = span.value;
        if (span && context === 'entry' && key === 'fullUrl') found.fullUrls.push(span);
        skipWhitespace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect('}');
        break;
      }
    }
    if (link) link.end = i;
    return link;
  };

  const array = (context: Context) => {
    const open = i;
    const elements: LinkSpan[] = [];
    const elementContext: Context =
      context === 'link-array' ? 'link' : context === 'entry-array' ? 'entry' : 'other';
    expect('[');
    skipWhitespace();
    if (text[i] === ']') i++;
    else {
      for (;;) {
        skipWhitespace();
        const start = i;
        if (elementContext === 'link' && text[i] === '{') {
          const link = object('link');
          if (link) elements.push(link);
        } else {
          value(elementContext);
          if (elementContext === 'link') elements.push({ start, end: i });
        }
        skipWhitespace();
        if (text[i] === ',') {
          i++;
          continue;
        }
        expect(']');
        break;
      }
    }
    if (context === 'link-array') found.linkArray = { open, close: i - 1, elements };
  };

  value('root');
  skipWhitespace();
  if (i !== text.length) fail('unexpected text after the JSON value');
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
