import { describe, expect, it } from 'vitest';
import { DEFAULT_SCOPES } from '../config/schema.ts';
import { selectScopes } from '../smart/scopes.ts';
import { accessFor, grantedTypes, grantsWildcard, namedTypes } from './scopes.ts';

const IDENTITY = ['openid', 'fhirUser', 'offline_access', 'launch/patient'];
/** The resource types the default registration wants. */
const WANTED_TYPES = DEFAULT_SCOPES.flatMap((s) => /^patient\/(\w+)\.read$/.exec(s)?.[1] ?? []);
const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory';

/** What a server that grants everything asked answers for a discovery listing `supported`. */
const grantFrom = (supported: string[]) => selectScopes(DEFAULT_SCOPES, supported).request;

describe('granted scopes → readable types', () => {
  it('a grant from a wildcard-v1 discovery reads and searches every wanted type', () => {
    const grant = grantFrom([...IDENTITY, 'patient/*.read']);
    expect(grant).toEqual([...IDENTITY, 'patient/*.read']);
    expect(WANTED_TYPES).toHaveLength(21);
    expect(grantedTypes(grant, WANTED_TYPES)).toEqual(WANTED_TYPES);
    for (const type of WANTED_TYPES) {
      expect(accessFor(grant, type)).toEqual({ read: 'all', search: 'all' });
    }
  });

  it('a grant from a wildcard-v2 discovery reads and searches every wanted type', () => {
    const grant = grantFrom([...IDENTITY, 'patient/*.rs']);
    expect(grant).toEqual([...IDENTITY, 'patient/*.rs']);
    expect(grantedTypes(grant, WANTED_TYPES)).toEqual(WANTED_TYPES);
    for (const type of WANTED_TYPES) {
      expect(accessFor(grant, type)).toEqual({ read: 'all', search: 'all' });
    }
  });

  it('a grant from a patient/*.* discovery reads every wanted type without asking for write', () => {
    const grant = grantFrom([...IDENTITY, 'patient/*.*']);
    expect(grant).toEqual(DEFAULT_SCOPES);
    expect(grantedTypes(grant, WANTED_TYPES)).toEqual(WANTED_TYPES);
  });

  it('a grant of identity scopes only covers no resource type', () => {
    expect(grantedTypes(IDENTITY, WANTED_TYPES)).toEqual([]);
    expect(grantsWildcard(IDENTITY)).toBe(false);
  });

  it('v1 and v2 per-type scopes name their types; write-only and system scopes grant no read', () => {
    const grant = [
      'patient/Condition.read',
      'patient/Encounter.rs',
      'patient/Goal.write',
      'system/Patient.rs',
    ];
    expect(namedTypes(grant)).toEqual(['Condition', 'Encounter', 'Goal']);
    expect(grantedTypes(grant, WANTED_TYPES)).toEqual(['Condition', 'Encounter']);
    expect(accessFor(grant, 'Patient')).toEqual({ read: 'none', search: 'none' });
    expect(accessFor(['patient/Observation.r'], 'Observation')).toEqual({
      read: 'all',
      search: 'none',
    });
  });

  it('a category-restricted v2 scope allows only its categories', () => {
    const grant = [`patient/Observation.rs?category=${LAB}`];
    const lab = {
      system: 'http://terminology.hl7.org/CodeSystem/observation-category',
      code: 'laboratory',
    };
    expect(accessFor(grant, 'Observation')).toEqual({
      read: { categories: [lab] },
      search: { categories: [lab] },
    });
    // A restriction on something other than category is not understood: it grants nothing.
    expect(accessFor(['patient/Observation.rs?code=1234-5'], 'Observation')).toEqual({
      read: 'none',
      search: 'none',
    });
  });
});
