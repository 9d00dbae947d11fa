import { describe, expect, it } from 'vitest';
import { OPEN_END, OPEN_START, parseFhirDate, rangeOfValue } from './fhir-dates.ts';

const utc = (...args: [number, number, number, number?, number?, number?, number?]) =>
  Date.UTC(...args);

describe('parseFhirDate', () => {
  it('gives a year, a month and a day as the range they cover (UTC without an offset)', () => {
    expect(parseFhirDate('2024')).toEqual({ start: utc(2024, 0, 1), end: utc(2025, 0, 1) });
    expect(parseFhirDate('2024-02')).toEqual({ start: utc(2024, 1, 1), end: utc(2024, 2, 1) });
    expect(parseFhirDate('2024-02-29')).toEqual({ start: utc(2024, 1, 29), end: utc(2024, 2, 1) });
  });

  it('applies the offset and the precision of a dateTime', () => {
    const start = utc(2025, 9, 1, 14, 30, 5);
    expect(parseFhirDate('2025-10-01T09:30:05-05:00')).toEqual({ start, end: start + 1000 });
    expect(parseFhirDate('2025-10-01T14:30:05.250Z')).toEqual({
      start: start + 250,
      end: start + 251,
    });
    expect(parseFhirDate('2025-10-01T14:30Z')).toEqual({
      start: utc(2025, 9, 1, 14, 30),
      end: utc(2025, 9, 1, 14, 31),
    });
  });

  it('refuses what is not a date', () => {
    for (const bad of [
      '',
      'yesterday',
      '2024-13',
      '2024-02-30',
      '2024-01-01T25:00:00Z',
      '24-01-01',
    ]) {
      expect(parseFhirDate(bad), bad).toBeUndefined();
    }
  });
});

describe('rangeOfValue', () => {
  it('reads a Period, open ends extending without bound', () => {
    expect(rangeOfValue({ start: '2024-01-01', end: '2024-01-02' })).toEqual({
      start: utc(2024, 0, 1),
      end: utc(2024, 0, 3),
    });
    expect(rangeOfValue({ start: '2024' })).toEqual({ start: utc(2024, 0, 1), end: OPEN_END });
    expect(rangeOfValue({ end: '2024' })).toEqual({ start: OPEN_START, end: utc(2025, 0, 1) });
    expect(rangeOfValue({})).toBeUndefined();
    expect(rangeOfValue(42)).toBeUndefined();
  });
});
