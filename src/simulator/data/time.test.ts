import { describe, expect, it } from 'vitest';
import { type DateCriterion, dateMatches, matches, tokenMatches } from './query.ts';
import { formatInstant, offsetAt, parseFhirDate, timeZoneOfState } from './time.ts';

const eastern = timeZoneOfState('MA');
const arizona = timeZoneOfState('AZ');

describe('local time', () => {
  it('follows US daylight saving time (2nd Sunday of March to 1st Sunday of November)', () => {
    expect(offsetAt(Date.UTC(2025, 0, 15), eastern)).toBe(-300);
    expect(offsetAt(Date.UTC(2025, 6, 15), eastern)).toBe(-240);
    expect(offsetAt(Date.UTC(2025, 2, 9, 6, 59), eastern)).toBe(-300);
    expect(offsetAt(Date.UTC(2025, 2, 9, 7, 0), eastern)).toBe(-240);
    expect(offsetAt(Date.UTC(2025, 10, 2, 5, 59), eastern)).toBe(-240);
    expect(offsetAt(Date.UTC(2025, 10, 2, 6, 0), eastern)).toBe(-300);
    expect(offsetAt(Date.UTC(2025, 6, 15), arizona)).toBe(-420);
    expect(timeZoneOfState('TX').standardOffsetMin).toBe(-360);
  });

  it('formats instants with the local offset, as healow does', () => {
    expect(formatInstant(Date.UTC(2024, 2, 5, 15, 22, 31), eastern)).toBe(
      '2024-03-05T10:22:31.000-05:00',
    );
    expect(formatInstant(Date.UTC(2024, 6, 5, 15, 22, 31, 7), eastern)).toBe(
      '2024-07-05T11:22:31.007-04:00',
    );
  });

  it('parses FHIR dates at their precision', () => {
    const year = parseFhirDate('2024', eastern);
    expect(year?.start).toBe(Date.UTC(2024, 0, 1, 5));
    expect(year?.end).toBe(Date.UTC(2025, 0, 1, 5));
    expect(parseFhirDate('2024-07-05', eastern)).toEqual({
      start: Date.UTC(2024, 6, 5, 4),
      end: Date.UTC(2024, 6, 6, 4),
    });
    expect(parseFhirDate('2024-07-05T10:00:00Z', eastern)).toEqual({
      start: Date.UTC(2024, 6, 5, 10),
      end: Date.UTC(2024, 6, 5, 10, 0, 1),
    });
    // An unencoded "+" arrives as a space.
    expect(parseFhirDate('2024-07-05T10:00:00 02:00', eastern)?.start).toBe(
      Date.UTC(2024, 6, 5, 8),
    );
    expect(parseFhirDate('2024-07-05T10:00:00.123-04:00', eastern)?.start).toBe(
      Date.UTC(2024, 6, 5, 14, 0, 0, 123),
    );
    for (const bad of ['', 'yesterday', '2024-13', '2024-07-05T25:00', '24-07-05']) {
      expect(parseFhirDate(bad, eastern), bad).toBeUndefined();
    }
  });
});

describe('search matching', () => {
  const day = { start: Date.UTC(2024, 6, 5), end: Date.UTC(2024, 6, 6) };
  const at = (t: number) => ({ start: t, end: t + 1 });
  const c = (prefix: DateCriterion['prefix']): DateCriterion => ({ prefix, range: day });

  it('applies the FHIR date prefixes', () => {
    const before = at(Date.UTC(2024, 6, 4, 12));
    const inside = at(Date.UTC(2024, 6, 5, 12));
    const after = at(Date.UTC(2024, 6, 6, 12));
    const table: [DateCriterion['prefix'], boolean, boolean, boolean][] = [
      ['eq', false, true, false],
      ['ne', true, false, true],
      ['gt', false, false, true],
      ['ge', false, true, true],
      ['lt', true, false, false],
      ['le', true, true, false],
      ['sa', false, false, true],
      ['eb', true, false, false],
      ['ap', false, true, false],
    ];
    for (const [prefix, b, i, a] of table) {
      expect(
        [
          dateMatches(before, c(prefix)),
          dateMatches(inside, c(prefix)),
          dateMatches(after, c(prefix)),
        ],
        prefix,
      ).toEqual([b, i, a]);
    }
  });

  it('matches tokens with and without a system', () => {
    const key = 'http://loinc.org|8867-4';
    expect(tokenMatches(key, { code: '8867-4' })).toBe(true);
    expect(tokenMatches(key, { system: 'http://loinc.org', code: '8867-4' })).toBe(true);
    expect(tokenMatches(key, { system: 'http://loinc.org' })).toBe(true);
    expect(tokenMatches(key, { system: '', code: '8867-4' })).toBe(false);
    expect(tokenMatches(key, { system: 'http://snomed.info/sct', code: '8867-4' })).toBe(false);
    expect(tokenMatches('|final', { system: '', code: 'final' })).toBe(true);
  });

  it('ANDs parameters and ORs the values of one', () => {
    const item = {
      id: 'x',
      lastUpdated: Date.UTC(2024, 6, 5, 12),
      keys: {
        tokens: { category: ['sys|laboratory'], code: ['http://loinc.org|2345-7'] },
        date: day,
      },
    };
    const base = { tokens: [], dates: [], lastUpdated: [] };
    expect(
      matches(item, {
        ...base,
        tokens: [{ name: 'category', anyOf: [{ code: 'vital-signs' }, { code: 'laboratory' }] }],
      }),
    ).toBe(true);
    expect(
      matches(item, {
        ...base,
        tokens: [
          { name: 'category', anyOf: [{ code: 'laboratory' }] },
          { name: 'code', anyOf: [{ code: '718-7' }] },
        ],
      }),
    ).toBe(false);
    expect(matches(item, { ...base, ids: ['y'] })).toBe(false);
    expect(matches(item, { ...base, since: Date.UTC(2024, 6, 5, 12) })).toBe(true);
    expect(matches(item, { ...base, since: Date.UTC(2024, 6, 5, 12) + 1 })).toBe(false);
    expect(
      matches(item, {
        ...base,
        lastUpdated: [{ prefix: 'gt', range: at(Date.UTC(2024, 6, 5, 12)) }],
      }),
    ).toBe(false);
    expect(
      matches(item, {
        ...base,
        lastUpdated: [{ prefix: 'ge', range: at(Date.UTC(2024, 6, 5, 12)) }],
      }),
    ).toBe(true);
  });
});
