import { describe, expect, it } from 'vitest';
import {
  coversScope,
  formatResourceScope,
  formatScope,
  grantedScopes,
  missingScopes,
  parseResourceScope,
  parseScope,
  selectScopes,
} from './scopes.ts';

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

const IDENTITY = ['openid', 'fhirUser', 'offline_access', 'launch/patient'];
const TYPES = ['Observation', 'Patient', 'Provenance'];
const WANTED_V1 = [...IDENTITY, ...TYPES.map((t) => `patient/${t}.read`)];

describe('parseResourceScope', () => {
  it('reads v1 and v2 scopes into v2 permission letters', () => {
    expect(parseResourceScope('patient/*.read')).toEqual({
      context: 'patient',
      type: '*',
      permissions: 'rs',
      syntax: 'v1',
    });
    expect(parseResourceScope('user/Observation.*')?.permissions).toBe('cruds');
    expect(parseResourceScope('patient/Observation.write')?.permissions).toBe('cud');
    expect(parseResourceScope('patient/*.rs')).toEqual({
      context: 'patient',
      type: '*',
      permissions: 'rs',
      syntax: 'v2',
    });
    expect(
      parseResourceScope(
        'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
      ),
    ).toEqual({
      context: 'patient',
      type: 'Observation',
      permissions: 'rs',
      syntax: 'v2',
      query: 'category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
    });
  });

  it('is not a resource scope: identity scopes, letters out of cruds order, a v1 restriction', () => {
    expect(parseResourceScope('openid')).toBeUndefined();
    expect(parseResourceScope('launch/patient')).toBeUndefined();
    expect(parseResourceScope('patient/*.sr')).toBeUndefined();
    expect(parseResourceScope('patient/Observation.rr')).toBeUndefined();
    expect(parseResourceScope('patient/Observation.read?category=laboratory')).toBeUndefined();
  });

  it('writes a scope back in either syntax, when that syntax can say it', () => {
    const rs = parseResourceScope('patient/Observation.rs');
    expect(rs && formatResourceScope(rs, 'v1')).toBe('patient/Observation.read');
    const read = parseResourceScope('patient/Observation.read');
    expect(read && formatResourceScope(read, 'v2')).toBe('patient/Observation.rs');
    const r = parseResourceScope('patient/Observation.r');
    expect(r && formatResourceScope(r, 'v1')).toBeUndefined();
  });

  it('covers a narrower scope only with every permission and no extra restriction', () => {
    const cover = (a: string, b: string) => {
      const broad = parseResourceScope(a);
      const narrow = parseResourceScope(b);
      return broad !== undefined && narrow !== undefined && coversScope(broad, narrow);
    };
    expect(cover('patient/*.read', 'patient/Observation.rs')).toBe(true);
    expect(cover('patient/*.cruds', 'patient/Observation.read')).toBe(true);
    expect(cover('patient/Observation.rs', 'patient/Observation.rs?category=laboratory')).toBe(
      true,
    );
    expect(cover('patient/Observation.rs?category=laboratory', 'patient/Observation.rs')).toBe(
      false,
    );
    expect(cover('patient/*.r', 'patient/Observation.rs')).toBe(false);
    expect(cover('user/*.read', 'patient/Observation.read')).toBe(false);
    expect(cover('patient/Condition.read', 'patient/Observation.read')).toBe(false);
  });
});

describe('selectScopes', () => {
  it('asks for what the registration wants when the server lists it', () => {
    const supported = [...WANTED_V1, 'patient/Encounter.read'];
    expect(selectScopes(WANTED_V1, supported)).toEqual({
      request: WANTED_V1,
      rewritten: [],
      leftOut: [],
    });
  });

  it('asks for the listed v1 wildcard when the server lists only patient/*.read', () => {
    const selection = selectScopes(WANTED_V1, [...IDENTITY, 'patient/*.read']);
    expect(selection.request).toEqual([...IDENTITY, 'patient/*.read']);
    expect(selection.leftOut).toEqual([]);
    expect(selection.rewritten).toContainEqual({
      scope: 'patient/Observation.read',
      as: 'patient/*.read',
      reason: 'the server lists patient/*.read, not patient/Observation.read',
    });
  });

  it('asks for the listed v2 wildcard when the server lists only patient/*.rs', () => {
    const selection = selectScopes(WANTED_V1, [...IDENTITY, 'patient/*.rs', 'user/*.cruds']);
    expect(selection.request).toEqual([...IDENTITY, 'patient/*.rs']);
    expect(selection.leftOut).toEqual([]);
  });

  it('asks per type, never for patient/*.*, when the only listed wildcard adds write access', () => {
    const selection = selectScopes(WANTED_V1, [...IDENTITY, 'patient/*.*']);
    expect(selection.request).toEqual(WANTED_V1);
    expect(selection.request).not.toContain('patient/*.*');
  });

  it('asks per type in v2 letters when the only listed wildcard is patient/*.cruds', () => {
    const selection = selectScopes(WANTED_V1, [...IDENTITY, 'patient/*.cruds']);
    expect(selection.request).toEqual([...IDENTITY, ...TYPES.map((t) => `patient/${t}.rs`)]);
  });

  it("asks in the server's syntax for a type it lists only in the other one", () => {
    const selection = selectScopes(['patient/Observation.read'], ['patient/Observation.rs']);
    expect(selection.request).toEqual(['patient/Observation.rs']);
  });

  it('prefers the listed scope of the wanted type to a listed wildcard', () => {
    const selection = selectScopes(
      ['patient/Observation.rs?category=laboratory'],
      ['patient/*.rs', 'patient/Observation.rs'],
    );
    expect(selection.request).toEqual(['patient/Observation.rs']);
  });

  it('keeps a wanted category restriction the server lists as it is', () => {
    const lab =
      'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
    expect(selectScopes([lab], ['patient/*.rs', lab]).request).toEqual([lab]);
  });

  it('never asks for write access, even when the registration wants it and the server lists it', () => {
    const wanted = [
      'patient/Observation.write',
      'patient/Condition.*',
      'patient/Encounter.cruds',
      'patient/Goal.cud',
    ];
    const supported = [...wanted, 'patient/*.*', 'patient/*.cruds'];
    const selection = selectScopes(wanted, supported);
    expect(selection.request).toEqual(['patient/Condition.read', 'patient/Encounter.rs']);
    expect(selection.leftOut).toEqual([
      { scope: 'patient/Observation.write', reason: 'write access is never requested' },
      { scope: 'patient/Goal.cud', reason: 'write access is never requested' },
    ]);
    expect(selectScopes(wanted, undefined).request).toEqual([
      'patient/Condition.read',
      'patient/Encounter.rs',
    ]);
  });

  it("leaves out, with the reason, what the server's list does not cover", () => {
    const selection = selectScopes(WANTED_V1, [
      'openid',
      'fhirUser',
      'patient/Observation.read',
      'patient/Patient.read',
    ]);
    expect(selection.request).toEqual([
      'openid',
      'fhirUser',
      'patient/Observation.read',
      'patient/Patient.read',
    ]);
    expect(selection.leftOut).toEqual([
      { scope: 'offline_access', reason: "not in the server's scopes_supported" },
      { scope: 'launch/patient', reason: "not in the server's scopes_supported" },
      {
        scope: 'patient/Provenance.read',
        reason: "no scope in the server's scopes_supported covers it",
      },
    ]);
  });

  it('asks for everything wanted when the server lists nothing', () => {
    expect(selectScopes(WANTED_V1, undefined).request).toEqual(WANTED_V1);
    expect(selectScopes(WANTED_V1, []).request).toEqual(WANTED_V1);
  });
});
