// The ranking measured against a judged query set over a healow-sized directory (17,000
// generated practices plus the simulator's named ones): for each query a person's judgement of
// which practices are right, and the share of the top 10 that is right.
import { describe, expect, it } from 'vitest';
import { generateDirectory } from '../simulator/directory.ts';
import { DEFAULT_PRACTICES } from '../simulator/options.ts';
import { buildPracticeIndex, normalizeText, type SearchablePractice } from './search.ts';

const named = DEFAULT_PRACTICES.map((p) => ({ id: p.code, name: p.name, city: p.city }));
const generated = generateDirectory(
  17_000,
  'judged-queries',
  named.map((p) => p.id),
).map((p) => ({ id: p.code, name: p.name, city: p.address?.city ?? null }));
const directory: SearchablePractice[] = [...named, ...generated];
const index = buildPracticeIndex(directory);

const words = (text: string | null | undefined) => new Set(normalizeText(text ?? '').split(' '));
/** The practice's own name has every one of these whole words. */
const nameHas =
  (...wanted: string[]) =>
  (p: SearchablePractice) =>
    wanted.every((w) => words(p.name).has(w));
/** Its name or its city has the word. */
const nameOrCity = (wanted: string) => (p: SearchablePractice) =>
  words(p.name).has(wanted) || words(p.city).has(wanted);

// A surname that is a doctor's own practice name ("Given Family, MD") in this directory.
const doctor = generated.find((p) => /^\S+ \S+, (MD|DO)/.test(p.name)) as SearchablePractice;
const [given, surname] = normalizeText(doctor.name.split(',')[0] as string).split(' ') as [
  string,
  string,
];
const someCode = (generated[4321] as SearchablePractice).id;

interface Judged {
  query: string;
  /** The practices a person would call a right answer. */
  right(p: SearchablePractice): boolean;
  /** The one the patient is after, when there is one: it must be in the top 10. */
  wanted?: string;
}

const JUDGED: Judged[] = [
  // The practice's own name beats clinics in the city of Riverside.
  { query: 'riverside', right: nameHas('riverside') },
  {
    query: 'riverside family medicine',
    right: nameHas('riverside', 'family', 'medicine'),
    wanted: 'BFGHDA',
  },
  { query: 'riversde famly', right: nameHas('riverside', 'family'), wanted: 'BFGHDA' },
  { query: 'lakeviw pediatrcs', right: nameHas('lakeview', 'pediatrics'), wanted: 'CDHJEB' },
  { query: 'harbor point', right: nameHas('harbor', 'point') },
  { query: 'harbor point women', right: nameHas('harbor', 'point', 'women'), wanted: 'EGCAID' },
  { query: 'sunrise internal', right: nameHas('sunrise', 'internal'), wanted: 'DEBIFC' },
  { query: 'mesa verde', right: nameHas('mesa', 'verde') },
  { query: 'mesa verde primary', right: nameHas('mesa', 'verde', 'primary'), wanted: 'FJDBGE' },
  { query: 'prodtest', right: nameHas('prodtest'), wanted: 'JAFJCD' },
  // Practice codes, typed whole.
  { query: 'BFGHDA', right: (p) => p.id === 'BFGHDA', wanted: 'BFGHDA' },
  { query: someCode.toLowerCase(), right: (p) => p.id === someCode, wanted: someCode },
  // Cities: anything there (or named after it) is right.
  { query: 'columbus', right: nameOrCity('columbus') },
  { query: 'westborough', right: nameOrCity('westborough') },
  {
    query: 'san diego',
    right: (p) => normalizeText(`${p.name} ${p.city ?? ''}`).includes('san diego'),
  },
  // A doctor's surname, where the practice carries it.
  { query: surname, right: nameHas(surname) },
  { query: `${given} ${surname}`, right: nameHas(given, surname), wanted: doctor.id },
];

/** Share of the top 10 that is right (of all right ones when there are fewer than 10). */
function precisionAt10(judged: Judged): {
  precision: number;
  wantedRank: number | null;
  right: number;
} {
  const top = index.search(judged.query, 10).map((m) => m.practice);
  const rightCount = directory.filter(judged.right).length;
  const hits = top.filter(judged.right).length;
  const rank = judged.wanted ? top.findIndex((p) => p.id === judged.wanted) : -1;
  return {
    precision: hits / Math.min(10, rightCount),
    wantedRank: judged.wanted ? (rank < 0 ? null : rank + 1) : null,
    right: rightCount,
  };
}

describe('the judged query set', () => {
  it('ranks right answers in every top 10 (top-10 accuracy 100%) and each wanted practice in it', () => {
    const measured = JUDGED.map((j) => ({ query: j.query, ...precisionAt10(j) }));
    const accuracy = measured.reduce((sum, m) => sum + m.precision, 0) / measured.length;
    // Printed so that a change to the ranking shows its effect, query by query.
    console.info(
      `top-10 accuracy ${(accuracy * 100).toFixed(1)}% over ${measured.length} queries\n${measured
        .map(
          (m) =>
            `  ${m.query}: ${(m.precision * 100).toFixed(0)}%, wanted at ${m.wantedRank ?? '-'}, ${m.right} right`,
        )
        .join('\n')}`,
    );
    expect(measured.filter((m) => m.precision < 1)).toEqual([]);
    const wanted = JUDGED.filter((j) => j.wanted).map((j) => j.query);
    expect(measured.filter((m) => wanted.includes(m.query) && m.wantedRank === null)).toEqual([]);
    expect(accuracy).toBe(1);
  });

  it('puts the practice a code or a whole name names first', () => {
    const first = (q: string) => index.search(q, 1)[0]?.practice.id;
    expect(first('BFGHDA')).toBe('BFGHDA');
    expect(first(someCode)).toBe(someCode);
    expect(first('Riverside Family Medicine')).toBe('BFGHDA');
    expect(first("Harbor Point Women's Health")).toBe('EGCAID');
  });
});
