import { describe, expect, it } from 'vitest';
import { generateDirectory } from '../simulator/directory.ts';
import {
  buildPracticeIndex,
  normalizeText,
  prefixDistance,
  type SearchablePractice,
} from './search.ts';

const practices: SearchablePractice[] = [
  { id: 'JAFJCD', name: 'FHIR R4 Prodtest EMR', city: 'Westborough' },
  { id: 'SPF001', name: 'Springfield Family Medicine', city: 'Springfield' },
  { id: 'LKV001', name: 'Lakeview Pediatrics', city: 'Springfield' },
  { id: 'SPV001', name: 'Spring Valley Clinic', city: 'Boston' },
  { id: 'PENA01', name: 'Clínica Peña', city: 'San José' },
  {
    id: 'ZOE001',
    name: 'Zoë Lefèvre, MD',
    organizationName: 'Lefèvre Medical Group',
    city: 'Québec',
  },
  { id: 'SUNRIS', name: 'Sunrise Internal Medicine Associates', city: 'Phoenix' },
  { id: 'SUN002', name: 'Sunrise', city: 'Tucson' },
  { id: 'SUN003', name: 'The Sunrise Clinic', city: 'Tempe' },
  { id: 'SUN004', name: 'Sunrose Health', city: 'Mesa' },
  { id: 'HARBOR', name: "Harbor Point Women's Health", city: 'Baltimore' },
];

const index = buildPracticeIndex(practices);
const ids = (query: string, limit = 20) => index.search(query, limit).map((m) => m.practice.id);
const matches = (query: string) => index.search(query, 20).map((m) => [m.practice.id, m.match]);

describe('normalizeText', () => {
  it('folds case, accents and punctuation', () => {
    expect(normalizeText("  Zoë's  Clinic—SÃO Paulo, MD ")).toBe('zoe s clinic sao paulo md');
    expect(normalizeText('Ⅻ ﬁrst Ångström')).toBe('xii first angstrom');
  });
});

describe('prefixDistance', () => {
  it('measures typos against the closest prefix, with transpositions', () => {
    expect(prefixDistance('prodtst', 'prodtest', 2)).toBe(1);
    expect(prefixDistance('springfeld', 'springfield', 2)).toBe(1);
    expect(prefixDistance('sprnig', 'springfield', 1)).toBe(1);
    expect(prefixDistance('spring', 'springfield', 1)).toBe(0);
    expect(prefixDistance('xyzzy', 'springfield', 2)).toBe(3);
  });
});

describe('practice search', () => {
  it('is case- and accent-insensitive', () => {
    expect(ids('clinica pena')).toEqual(['PENA01']);
    expect(ids('CLÍNICA PEÑA')).toEqual(['PENA01']);
    expect(ids('zoe lefevre')).toEqual(['ZOE001']);
    expect(ids('san jose')).toEqual(['PENA01']);
    expect(ids('quebec')).toEqual(['ZOE001']);
  });

  it('finds by prefix of any word, across name, organization, city and code', () => {
    expect(ids('harb')).toEqual(['HARBOR']);
    expect(ids('women')).toEqual(['HARBOR']);
    expect(ids('lefevre medical')).toEqual(['ZOE001']);
    expect(ids('lakeview springf')).toEqual(['LKV001']);
    expect(ids('jafjcd')).toEqual(['JAFJCD']);
    expect(ids('fhir r4 prod')).toEqual(['JAFJCD']);
  });

  it('tolerates typos', () => {
    expect(ids('prodtst')).toEqual(['JAFJCD']);
    // Both one typo: the name's beats the city's.
    expect(ids('springfeld')).toEqual(['SPF001', 'LKV001']);
    expect(ids('pediatircs')).toEqual(['LKV001']);
    expect(ids('westbourough')).toEqual(['JAFJCD']);
    // Short words get no typo budget: "sun" must not match "son", "run", ...
    expect(ids('sxn')).toEqual([]);
    expect(ids('qqqqqqq')).toEqual([]);
  });

  it('ranks a whole name word over a prefix over a typo, names over cities, ties by name', () => {
    expect(matches('sunrise')).toEqual([
      ['SUN002', 'exact'], // the whole name
      ['SUNRIS', 'prefix'], // the name starts with it
      ['SUN003', 'word'], // a whole word later in the name
      ['SUN004', 'fuzzy'],
    ]);
    // The practice named Springfield beats the one that is only in the city of Springfield.
    expect(matches('springfield')).toEqual([
      ['SPF001', 'exact'],
      ['LKV001', 'exact'],
    ]);
    // A name's prefix beats a city's; among names, ties go by name.
    expect(matches('spring')).toEqual([
      ['SPV001', 'prefix'],
      ['SPF001', 'prefix'],
      ['LKV001', 'prefix'],
    ]);
    expect(matches('lakeview')).toEqual([['LKV001', 'prefix']]);
    expect(matches('pediatrics')).toEqual([['LKV001', 'word']]);
    // A whole code is that practice, before any name that starts like it.
    const coded = buildPracticeIndex([
      { id: 'AAAAAA', name: 'Jafjcd Wellness' },
      { id: 'JAFJCD', name: 'Sandbox' },
    ]);
    expect(coded.search('jafjcd', 5).map((m) => m.practice.id)).toEqual(['JAFJCD', 'AAAAAA']);
  });

  it('needs every word, honours the limit, and ignores empty queries', () => {
    expect(ids('sunrise phoenix')).toEqual(['SUNRIS']);
    expect(ids('sunrise nowhere')).toEqual([]);
    expect(ids('sunrise', 2)).toEqual(['SUN002', 'SUNRIS']);
    expect(ids('  --  ')).toEqual([]);
    expect(ids('sunrise', 0)).toEqual([]);
  });

  it('searches 17,000 generated practices', () => {
    const directory = generateDirectory(17_000, 'search-test').map((p) => ({
      id: p.code,
      name: p.name,
      city: p.address?.city ?? null,
    }));
    const big = buildPracticeIndex([
      ...directory,
      { id: 'JAFJCD', name: 'FHIR R4 Prodtest EMR', city: 'Westborough' },
    ]);
    expect(big.size).toBe(17_001);
    expect(big.search('prodtst', 5).map((m) => m.practice.id)).toContain('JAFJCD');
    const springfield = big.search('springfeld', 50);
    expect(springfield.length).toBeGreaterThan(0);
    for (const m of springfield) {
      expect(normalizeText(`${m.practice.name} ${m.practice.city ?? ''}`)).toMatch(/springfield/);
    }
    // Exact words come before typos.
    const kinds = big.search('pediatrics', 200).map((m) => m.match === 'fuzzy');
    expect([...kinds].sort()).toEqual(kinds);
  });
});

describe('practice codes', () => {
  it('are found exactly or by prefix, never with typos', () => {
    const codes = buildPracticeIndex([
      { id: 'CHABJD', name: 'North Clinic' },
      { id: 'JAFJCD', name: 'Sandbox' },
    ]);
    expect(codes.search('chabjd', 5).map((m) => [m.practice.id, m.match])).toEqual([
      ['CHABJD', 'exact'],
    ]);
    expect(codes.search('jafj', 5).map((m) => [m.practice.id, m.match])).toEqual([
      ['JAFJCD', 'prefix'],
    ]);
    expect(codes.search('chabad', 5)).toEqual([]);
  });
});
