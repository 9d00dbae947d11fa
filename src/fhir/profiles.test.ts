import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import { genericProfile, healowProfile, profileFor } from './profiles.ts';

describe('healow profile', () => {
  it('searches Observation once per US Core category, never patient alone', () => {
    const plans = healowProfile.searchesFor('Observation', 'p-1.a');
    expect(plans.map((p) => p.category)).toEqual([
      'laboratory',
      'vital-signs',
      'social-history',
      'survey',
      'exam',
      'imaging',
      'procedure',
      'therapy',
      'activity',
    ]);
    for (const plan of plans) expect(plan.patient).toBe('p-1.a');
  });

  it('adds category to CarePlan and status to CareTeam', () => {
    expect(healowProfile.searchesFor('CarePlan', 'p1')).toEqual([
      { patient: 'p1', category: 'assess-plan' },
    ]);
    expect(healowProfile.searchesFor('CareTeam', 'p1')).toEqual([
      { patient: 'p1', status: 'active' },
    ]);
  });

  it('searches every other type by patient, Patient by _id, reference-only types not at all', () => {
    expect(healowProfile.searchesFor('Condition', 'p1')).toEqual([{ patient: 'p1' }]);
    expect(healowProfile.searchesFor('Patient', 'p1')).toEqual([{ _id: 'p1' }]);
    expect(healowProfile.searchesFor('Practitioner', 'p1')).toEqual([]);
  });
});

describe('generic profile', () => {
  it('has nothing healow-specific', () => {
    expect(genericProfile.searchesFor('Observation', 'p1')).toEqual([{ patient: 'p1' }]);
    expect(genericProfile.searchesFor('CarePlan', 'p1')).toEqual([{ patient: 'p1' }]);
    expect(genericProfile.searchesFor('CareTeam', 'p1')).toEqual([{ patient: 'p1' }]);
    expect(genericProfile.searchesFor('Patient', 'p1')).toEqual([{ _id: 'p1' }]);
    expect(genericProfile.searchesFor('Binary', 'p1')).toEqual([]);
    expect(genericProfile.accept).toBe('application/fhir+json');
  });
});

describe('profileFor', () => {
  it('finds profiles by name and refuses unknown ones', () => {
    expect(profileFor('healow')).toBe(healowProfile);
    expect(profileFor('generic')).toBe(genericProfile);
    let error: unknown;
    try {
      profileFor('epic');
    } catch (e) {
      error = e;
    }
    expect(isBridgeError(error, 'invalid_config')).toBe(true);
    expect(() => profileFor('toString')).toThrow();
  });
});
