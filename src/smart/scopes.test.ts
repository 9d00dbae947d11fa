import { describe, expect, it } from 'vitest';
import { formatScope, grantedScopes, missingScopes, parseScope } from './scopes.ts';

describe('scopes', () => {
  it('parses space-delimited scopes, dropping empties and duplicates', () => {
    expect(parseScope('  openid  fhirUser\tpatient/Patient.read openid ')).toEqual([
      'openid',
      'fhirUser',
      'patient/Patient.read',
    ]);
    expect(parseScope(undefined)).toEqual([]);
    expect(parseScope('')).toEqual([]);
    expect(formatScope(['openid', 'fhirUser'])).toBe('openid fhirUser');
  });

  it('takes the response scope as the grant, and the request when the response has none', () => {
    const requested = ['openid', 'patient/Patient.read', 'patient/Observation.read'];
    expect(grantedScopes(requested, 'openid patient/Patient.read')).toEqual([
      'openid',
      'patient/Patient.read',
    ]);
    expect(grantedScopes(requested, undefined)).toEqual(requested);
    expect(grantedScopes(requested, ['openid'])).toEqual(['openid']);
  });

  it('lists what a partial grant left out', () => {
    expect(missingScopes(['a', 'b', 'c'], ['a', 'c'])).toEqual(['b']);
    expect(missingScopes(['a'], ['a', 'z'])).toEqual([]);
  });
});
