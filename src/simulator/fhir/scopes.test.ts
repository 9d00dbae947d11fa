import { describe, expect, it } from 'vitest';
import { accessFor, covers, parseResourceScope } from './scopes.ts';

const LAB =
  'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory';

const interactions = (scope: string) => [...(parseResourceScope(scope)?.interactions ?? [])];

describe('SMART resource scopes, read from the spec', () => {
  it('reads the v2 examples: .rs, .cruds, .cu, wildcards and constraints', () => {
    expect(parseResourceScope('patient/Observation.rs')).toEqual({
      level: 'patient',
      resourceType: 'Observation',
      interactions: new Set(['r', 's']),
      syntax: 'v2',
      constraints: [],
    });
    expect(interactions('user/Appointment.cruds')).toEqual(['c', 'r', 'u', 'd', 's']);
    expect(interactions('patient/Observation.cu')).toEqual(['c', 'u']);
    expect(parseResourceScope('patient/*.rs')?.resourceType).toBe('*');
    expect(parseResourceScope('system/*.cruds')?.level).toBe('system');
    expect(parseResourceScope(LAB)?.constraints).toEqual([
      ['category', 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory'],
    ]);
  });

  it('reads v1 as the spec maps it: read = rs, write = cud, * = cruds', () => {
    expect(interactions('patient/Observation.read')).toEqual(['r', 's']);
    expect(interactions('patient/Observation.write')).toEqual(['c', 'u', 'd']);
    expect(interactions('user/*.*')).toEqual(['c', 'r', 'u', 'd', 's']);
    expect(parseResourceScope('patient/*.read')?.syntax).toBe('v1');
  });

  it('refuses what the grammar does not allow: out of order, repeats, empty, v1 with a query', () => {
    for (const bad of [
      'patient/Observation.sr',
      'patient/Observation.rrs',
      'patient/Observation.',
      'patient/Observation.x',
      'patient/Observation.read?category=laboratory',
      'practitioner/Observation.rs',
      'patient/observation.rs',
      'openid',
      'launch/patient',
    ]) {
      expect(parseResourceScope(bad), bad).toBeUndefined();
    }
  });

  it('gives read and search by interaction, for the type or every type, patient level only', () => {
    expect(accessFor(['patient/Observation.rs'], 'Observation')).toEqual({
      read: 'all',
      search: 'all',
    });
    expect(accessFor(['patient/Observation.r'], 'Observation')).toEqual({
      read: 'all',
      search: 'none',
    });
    expect(accessFor(['patient/Observation.s'], 'Observation').read).toBe('none');
    expect(accessFor(['patient/*.read'], 'Goal')).toEqual({ read: 'all', search: 'all' });
    expect(
      accessFor(['patient/Observation.cud', 'patient/Observation.write'], 'Observation'),
    ).toEqual({
      read: 'none',
      search: 'none',
    });
    expect(accessFor(['user/Observation.rs'], 'Observation').read).toBe('none');
    expect(accessFor(['patient/Condition.rs'], 'Observation').read).toBe('none');
  });

  it('narrows to the categories of a constrained scope; scopes add up', () => {
    expect(accessFor([LAB], 'Observation').search).toEqual({
      categories: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/observation-category',
          code: 'laboratory',
        },
      ],
    });
    expect(accessFor([LAB, 'patient/Observation.rs'], 'Observation').search).toBe('all');
    // A constraint it does not understand grants nothing rather than everything.
    expect(accessFor(['patient/Observation.rs?code=1234-5'], 'Observation').search).toBe('none');
  });

  it('decides which listed scope covers a request: wildcard, subset, same syntax, same constraints', () => {
    expect(covers('patient/*.read', 'patient/Observation.read')).toBe(true);
    expect(covers('patient/*.rs', 'patient/Observation.rs')).toBe(true);
    expect(covers('patient/*.rs', 'patient/Observation.r')).toBe(true);
    expect(covers('patient/*.rs', LAB)).toBe(true);
    expect(covers('patient/Observation.rs', 'patient/Condition.rs')).toBe(false);
    expect(covers('patient/*.rs', 'patient/Observation.cruds')).toBe(false);
    expect(covers('patient/*.read', 'patient/Observation.write')).toBe(false);
    expect(covers('patient/*.rs', 'patient/Observation.read')).toBe(false);
    expect(covers('patient/*.read', 'patient/Observation.rs')).toBe(false);
    expect(covers('patient/*.rs', 'user/Observation.rs')).toBe(false);
    expect(covers(LAB, 'patient/Observation.rs')).toBe(false);
    expect(covers('openid', 'openid')).toBe(true);
    expect(covers('openid', 'fhirUser')).toBe(false);
  });
});
