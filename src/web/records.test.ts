import { describe, expect, it } from 'vitest';
import { listInWords, sharedRecords } from './records.ts';

describe('sharedRecords', () => {
  it('names each granted type once, in words, in a fixed order', () => {
    expect(
      sharedRecords([
        'openid',
        'offline_access',
        'patient/Observation.read',
        'patient/MedicationRequest.read',
        'patient/Medication.read',
        'patient/AllergyIntolerance.rs',
        'patient/Provenance.read',
      ]),
    ).toEqual({
      everything: false,
      kinds: ['allergies', 'medications', 'lab results and vital signs'],
    });
  });

  it('reads a wildcard as the whole record, in v1 and v2', () => {
    expect(sharedRecords(['patient/*.read'])).toEqual({ everything: true, kinds: [] });
    expect(sharedRecords(['patient/*.rs', 'patient/Condition.rs'])).toEqual({
      everything: true,
      kinds: ['health conditions'],
    });
  });

  it('ignores write-only, user and system scopes', () => {
    expect(
      sharedRecords(['patient/Condition.c', 'user/*.read', 'system/Observation.read']),
    ).toEqual({ everything: false, kinds: [] });
  });
});

describe('listInWords', () => {
  it('joins with commas and a final "and"', () => {
    expect(listInWords([])).toBe('');
    expect(listInWords(['a'])).toBe('a');
    expect(listInWords(['a', 'b'])).toBe('a and b');
    expect(listInWords(['a', 'b', 'c'])).toBe('a, b and c');
  });
});
