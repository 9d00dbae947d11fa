// Practice search: an in-memory index over names, organization names, cities and codes;
// case- and accent-insensitive, prefix and typo tolerant. Ranked by a score per query word: a
// practice's own name beats its city, a whole word beats a prefix, a prefix beats a typo; a name
// that starts with the query, and a short name mostly made of it, come first; ties by name.
// Built from the store in tens of milliseconds for 17,000 practices; a query scans the sorted
// vocabulary, not the practices (see bench/directory.ts for figures).

/** What the index needs of a practice. */
export interface SearchablePractice {
  id: string;
  name: string;
  organizationName?: string | null;
  city?: string | null;
}

export type MatchKind = 'exact' | 'prefix' | 'word' | 'fuzzy';

export interface PracticeMatch<T> {
  practice: T;
  /** exact: a whole field equals the query; prefix: a field starts with it; word: every query word starts a word; fuzzy: with typos. */
  match: MatchKind;
}

export interface PracticeIndex<T> {
  readonly size: number;
  search(query: string, limit: number): PracticeMatch<T>[];
}

const MARKS = /\p{M}/gu;
const NOT_WORD = /[^\p{L}\p{N}]+/gu;
const NON_ASCII = /[^ -~\t\n\r]/;
const NOT_ASCII_WORD = /[^a-z0-9]+/g;

/**
 * Lower case, accents stripped (NFKD, then combining marks removed), every run of
 * non-letters/digits one space: "Zoë's  Clinic—São Paulo" → "zoe s clinic sao paulo".
 */
export function normalizeText(text: string): string {
  // Most names are plain ASCII: skip the Unicode work (a third of the index build) for them.
  if (!NON_ASCII.test(text)) return text.toLowerCase().replace(NOT_ASCII_WORD, ' ').trim();
  return text.normalize('NFKD').replace(MARKS, '').toLowerCase().replace(NOT_WORD, ' ').trim();
}

/** How many typos a query word may carry: none below 4 letters, 1 up to 7, then 2. */
function allowedTypos(length: number): number {
  return length < 4 ? 0 : length < 8 ? 1 : 2;
}

/** A bit per letter a-z (digits and the rest share bit 26), for the cheap typo prefilter. */
function letterMask(word: string): number {
  let mask = 0;
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i) - 97;
    mask |= c >= 0 && c < 26 ? 1 << c : 1 << 26;
  }
  return mask;
}

function popcount(x: number): number {
  let n = x - ((x >>> 1) & 0x55555555);
  n = (n & 0x33333333) + ((n >>> 2) & 0x33333333);
  return (((n + (n >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Three reusable rows for prefixDistance (no allocation per comparison). */
interface Rows {
  before: Int32Array;
  previous: Int32Array;
  current: Int32Array;
}

const newRows = (size: number): Rows => ({
  before: new Int32Array(size),
  previous: new Int32Array(size),
  current: new Int32Array(size),
});

/**
 * Edit distance (with adjacent transpositions) between `query` and the closest prefix of
 * `word`, or `max + 1` once it must exceed `max`: "prodtst" is 1 from "prodtest", "springfeld"
 * 1 from "springfield", "sprnig" 1 from "spring…".
 */
export function prefixDistance(
  query: string,
  word: string,
  max: number,
  rows: Rows = newRows(query.length + max + 1),
): number {
  const m = query.length;
  const n = Math.min(word.length, m + max);
  let { before, previous, current } = rows;
  for (let j = 0; j <= n; j++) previous[j] = j;
  for (let i = 1; i <= m; i++) {
    current[0] = i;
    let rowMin = i;
    const qc = query.charCodeAt(i - 1);
    const qPrev = i > 1 ? query.charCodeAt(i - 2) : -1;
    for (let j = 1; j <= n; j++) {
      const wc = word.charCodeAt(j - 1);
      let d = (previous[j - 1] as number) + (qc === wc ? 0 : 1);
      const del = (previous[j] as number) + 1;
      if (del < d) d = del;
      const ins = (current[j - 1] as number) + 1;
      if (ins < d) d = ins;
      if (j > 1 && qc === word.charCodeAt(j - 2) && qPrev === wc) {
        const swap = (before[j - 2] as number) + 1;
        if (swap < d) d = swap;
      }
      current[j] = d;
      if (d < rowMin) rowMin = d;
    }
    if (rowMin > max) return max + 1;
    const spare = before;
    before = previous;
    previous = current;
    current = spare;
  }
  let best = max + 1;
  for (let j = 0; j <= n; j++) if ((previous[j] as number) < best) best = previous[j] as number;
  return best;
}

/** Lowest index whose term is >= `word`. */
function lowerBound(terms: readonly string[], word: string): number {
  let lo = 0;
  let hi = terms.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((terms[mid] as string) < word) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const KINDS: MatchKind[] = ['exact', 'prefix', 'word', 'fuzzy'];
/** Where a word was seen in a practice: its name (or organization's), its city, its code. */
const NAME = 1;
const CITY = 2;
const CODE = 4;

/**
 * What one query word is worth against one word of a practice. A patient types the practice's
 * name far more often than its town: "riverside" means Riverside Family Medicine before any
 * clinic in the city of Riverside. A code is unique, so typing it whole means that practice.
 */
function wordScore(flags: number, whole: boolean, typos: number): number {
  if (typos > 0) {
    // A typo match is worth less than any exact prefix of the same field.
    const name = flags & NAME ? 3.5 - typos : 0;
    const city = flags & CITY ? 1.5 - typos / 2 : 0;
    return Math.max(name, city, 0.25);
  }
  let best = 0;
  if (flags & NAME) best = whole ? 6 : 4;
  if (flags & CODE) best = Math.max(best, whole ? 12 : 2);
  if (flags & CITY) best = Math.max(best, whole ? 3 : 2);
  return best;
}

/** Remembered typo look-ups (search-as-you-type repeats words); bounded. */
const TYPO_CACHE_SIZE = 512;
/** Scores are kept to 1/16 so that a sort key is one integer. */
const SCORE_STEPS = 16;
const MAX_SCORE = 4096;

export function buildPracticeIndex<T extends SearchablePractice>(
  practices: readonly T[],
): PracticeIndex<T> {
  const normalized = practices.map((p) => ({
    names: [p.name, p.organizationName]
      .filter((f): f is string => typeof f === 'string' && f !== '')
      .map(normalizeText),
    city: typeof p.city === 'string' && p.city !== '' ? normalizeText(p.city) : '',
    code: normalizeText(p.id),
  }));
  // Name order once, so ties compare integers: by name, then id.
  const order = practices
    .map((practice, i) => ({ i, key: normalized[i]?.names[0] ?? '', id: practice.id }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id < b.id ? -1 : 1));
  const docs = order.map(({ i }) => practices[i] as T);
  const fields = order.map(({ i }) => normalized[i] as (typeof normalized)[number]);
  /** Words in the practice's first name field, for the "mostly made of the query" bonus. */
  const nameWords = Uint16Array.from(fields, (f) =>
    f.names[0] ? f.names[0].split(' ').length : 0,
  );

  const postings = new Map<string, Map<number, number>>();
  fields.forEach((f, doc) => {
    const add = (text: string, flag: number) => {
      for (const word of text.split(' ')) {
        if (word === '') continue;
        const list = postings.get(word) ?? new Map<number, number>();
        if (list.size === 0) postings.set(word, list);
        list.set(doc, (list.get(doc) ?? 0) | flag);
      }
    };
    for (const name of f.names) add(name, NAME);
    add(f.city, CITY);
    add(f.code, CODE);
  });
  const terms = [...postings.keys()].sort();
  const termDocs = terms.map((t) =>
    Uint32Array.from((postings.get(t) as Map<number, number>).keys()),
  );
  const termFlags = terms.map((t) =>
    Uint8Array.from((postings.get(t) as Map<number, number>).values()),
  );
  // Codes (JAFJCD, IJCEAI) are found exactly or by prefix only: "chabad" must not find CHABJD.
  const typoTermIds = Uint32Array.from(
    terms.flatMap((_, i) => ((termFlags[i] as Uint8Array).some((f) => f !== CODE) ? [i] : [])),
  );
  const termMasks = Int32Array.from(terms, letterMask);
  postings.clear();

  const typoCache = new Map<string, Array<[term: number, distance: number]>>();

  /** Terms within the typo budget of `word` that do not already start with it. */
  function typoTerms(word: string): Array<[number, number]> {
    const cached = typoCache.get(word);
    if (cached) return cached;
    const max = allowedTypos(word.length);
    const found: Array<[number, number]> = [];
    if (max > 0) {
      const rows = newRows(word.length + max + 1);
      const mask = letterMask(word);
      for (const t of typoTermIds) {
        const term = terms[t] as string;
        // Each letter of the word missing from the term costs at least one edit.
        if (term.length < word.length - max || popcount(mask & ~(termMasks[t] as number)) > max) {
          continue;
        }
        if (term.startsWith(word)) continue;
        const distance = prefixDistance(word, term, max, rows);
        if (distance <= max) found.push([t, distance]);
      }
    }
    if (typoCache.size >= TYPO_CACHE_SIZE) typoCache.clear();
    typoCache.set(word, found);
    return found;
  }

  const NONE = 255;

  interface WordHits {
    /** Per practice, the best score of this word (0: no match). */
    scores: Float32Array;
    /** Per practice, the fewest typos of any match (255: none). */
    typos: Uint8Array;
    docs: number[];
  }

  function docsFor(word: string): WordHits {
    const scores = new Float32Array(docs.length);
    const typos = new Uint8Array(docs.length).fill(NONE);
    const touched: number[] = [];
    const note = (t: number, distance: number) => {
      const whole = distance === 0 && terms[t] === word;
      const list = termDocs[t] as Uint32Array;
      const flags = termFlags[t] as Uint8Array;
      for (let k = 0; k < list.length; k++) {
        const doc = list[k] as number;
        const f = flags[k] as number;
        // A code's word with typos is no match at all.
        if (distance > 0 && (f & ~CODE) === 0) continue;
        if (typos[doc] === NONE) touched.push(doc);
        if (distance < (typos[doc] as number)) typos[doc] = distance;
        const s = wordScore(f, whole, distance);
        if (s > (scores[doc] as number)) scores[doc] = s;
      }
    };
    for (let t = lowerBound(terms, word); t < terms.length; t++) {
      if (!(terms[t] as string).startsWith(word)) break;
      note(t, 0);
    }
    for (const [t, distance] of typoTerms(word)) note(t, distance);
    return { scores, typos, docs: touched };
  }

  return {
    size: docs.length,
    search(query, limit) {
      const normalized = normalizeText(query);
      if (normalized === '' || limit <= 0) return [];
      const words = [...new Set(normalized.split(' '))];
      // Rarest word first: its practices are the only candidates.
      const perWord = words.map(docsFor).sort((a, b) => a.docs.length - b.docs.length);
      const [first, ...rest] = perWord;
      if (!first) return [];
      const n = docs.length;
      const keys = new Float64Array(first.docs.length);
      const kinds = new Uint8Array(n);
      let count = 0;
      for (const doc of first.docs) {
        let typos = first.typos[doc] as number;
        let score = first.scores[doc] as number;
        for (const other of rest) {
          const d = other.typos[doc] as number;
          if (d === NONE) {
            typos = -1;
            break;
          }
          typos += d;
          score += other.scores[doc] as number;
        }
        if (typos < 0) continue;
        const f = fields[doc] as (typeof fields)[number];
        const texts = [...f.names, f.city, f.code];
        let kind: MatchKind = typos > 0 ? 'fuzzy' : 'word';
        if (typos === 0) {
          if (texts.some((t) => t === normalized)) kind = 'exact';
          else if (texts.some((t) => t.startsWith(normalized))) kind = 'prefix';
        }
        // The name is what the patient is typing: its start, then how much of it was typed.
        const name = f.names[0] ?? '';
        if (name === normalized) score += 4;
        else if (typos === 0 && name.startsWith(normalized)) score += 2;
        if (typos === 0 && f.names.some((t) => t.startsWith(normalized))) {
          score += Math.min(1, words.length / Math.max(1, nameWords[doc] as number));
        }
        kinds[doc] = KINDS.indexOf(kind);
        const steps = Math.min(MAX_SCORE - 1, Math.round(score * SCORE_STEPS));
        // Best score first, then name order: one number, so sorting is cheap.
        keys[count++] = (MAX_SCORE - 1 - steps) * n + doc;
      }
      const ranked = keys.subarray(0, count).sort();
      return Array.from(ranked.subarray(0, limit), (key) => {
        const doc = key % n;
        return { practice: docs[doc] as T, match: KINDS[kinds[doc] as number] as MatchKind };
      });
    },
  };
}
