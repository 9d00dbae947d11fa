import { describe, expect, it } from 'vitest';
import { genericProfile, healowProfile } from '../fhir/index.ts';
import { planSync, searchKey } from './plan.ts';
import { syncProfileFor } from './profiles.ts';
import { accessFor } from './scopes.ts';

const healow = (scopes: string[]) =>
  planSync({
    connectionId: 'con_1',
    patientId: 'p.1',
    practiceBase: 'https://fhir4.healow.com/fhir/r4/JAFJCD',
    scopes,
    profile: healowProfile,
    sync: syncProfileFor('healow'),
  });

describe('accessFor', () => {
  it('reads SMART v1 and v2 scopes, wildcards included', () => {
    expect(accessFor(['patient/Observation.read'], 'Observation')).toEqual({
      read: 'all',
      search: 'all',
    });
    expect(accessFor(['patient/*.read'], 'Condition').search).toBe('all');
    expect(accessFor(['patient/Observation.rs'], 'Observation').search).toBe('all');
    expect(accessFor(['patient/Observation.r'], 'Observation')).toEqual({
      read: 'all',
      search: 'none',
    });
    expect(accessFor(['patient/Observation.write', 'openid'], 'Observation').read).toBe('none');
    expect(accessFor(['patient/Condition.read'], 'Observation').read).toBe('none');
  });

  it('keeps category restrictions and ignores restrictions it does not understand', () => {
    const system = 'http://terminology.hl7.org/CodeSystem/observation-category';
    expect(
      accessFor([`patient/Observation.rs?category=${system}|laboratory`], 'Observation'),
    ).toEqual({
      read: { categories: [{ system, code: 'laboratory' }] },
      search: { categories: [{ system, code: 'laboratory' }] },
    });
    expect(accessFor(['patient/Observation.rs?code=1234-5'], 'Observation').search).toBe('none');
    // A plain scope next to a restricted one wins.
    expect(
      accessFor(
        ['patient/Observation.rs?category=vital-signs', 'patient/Observation.read'],
        'Observation',
      ).search,
    ).toBe('all');
  });
});

describe('planSync', () => {
  it('plans healow searches from v1 scopes, with their required parameters and the largest page', () => {
    const plan = healow([
      'openid',
      'launch/patient',
      'patient/Patient.read',
      'patient/Observation.read',
      'patient/CarePlan.read',
      'patient/CareTeam.read',
      'patient/Condition.read',
      'patient/Practitioner.read',
      'patient/Binary.read',
    ]);
    expect(plan.pageSize).toBe(200);
    expect(plan.incremental).toBe('_lastUpdated');
    expect(plan.searches[0]).toEqual({ key: 'Patient', type: 'Patient', params: { _id: 'p.1' } });
    expect(plan.searches.map((s) => s.key)).toEqual([
      'Patient',
      'CarePlan?category=assess-plan',
      'CareTeam?status=active',
      'CareTeam?status=proposed',
      'CareTeam?status=suspended',
      'CareTeam?status=inactive',
      'CareTeam?status=entered-in-error',
      'Condition',
      'Observation?category=laboratory',
      'Observation?category=vital-signs',
      'Observation?category=social-history',
      'Observation?category=survey',
      'Observation?category=exam',
      'Observation?category=imaging',
      'Observation?category=procedure',
      'Observation?category=therapy',
      'Observation?category=activity',
    ]);
    expect(plan.searches.find((s) => s.type === 'Condition')?.params).toEqual({ patient: 'p.1' });
    expect(plan.referenceTypes).toEqual(['Binary', 'Practitioner']);
    expect(plan.attachments).toBe(true);
    expect(plan.types[0]).toBe('Patient');
    expect(plan.types.slice(-2)).toEqual(['Binary', 'Practitioner']);
  });

  it('expands patient/*.read to every known type', () => {
    const plan = healow(['patient/*.read']);
    expect(new Set(plan.searches.map((s) => s.type))).toContain('DocumentReference');
    expect(plan.referenceTypes).toEqual([
      'Binary',
      'Location',
      'Medication',
      'Organization',
      'Practitioner',
      'PractitionerRole',
    ]);
  });

  it('narrows to the categories of a v2 scope, adding searches for categories the profile lacks', () => {
    const system = 'http://terminology.hl7.org/CodeSystem/observation-category';
    const plan = healow([
      `patient/Observation.rs?category=${system}|laboratory`,
      `patient/Observation.rs?category=${system}|sdoh`,
    ]);
    expect(plan.searches.map((s) => s.params)).toEqual([
      { patient: 'p.1', category: 'laboratory' },
      { patient: 'p.1', category: `${system}|sdoh` },
    ]);
    const generic = planSync({
      connectionId: 'c',
      patientId: 'p',
      practiceBase: 'https://ehr.example/fhir',
      scopes: ['patient/Condition.rs?category=problem-list-item'],
      profile: genericProfile,
      sync: syncProfileFor('generic'),
    });
    expect(generic.searches).toEqual([
      {
        key: 'Condition?category=problem-list-item',
        type: 'Condition',
        params: { patient: 'p', category: 'problem-list-item' },
      },
    ]);
  });

  it('leaves out types granted for read only (no search) and without any grant', () => {
    const plan = healow(['patient/Condition.r', 'patient/Patient.read', 'openid']);
    expect(plan.searches.map((s) => s.type)).toEqual(['Patient']);
    expect(plan.attachments).toBe(false);
  });
});

describe('searchKey', () => {
  it('names a search by its type and parameters, the patient left out', () => {
    expect(searchKey('Observation', { patient: 'x', category: 'vital-signs' })).toBe(
      'Observation?category=vital-signs',
    );
    expect(searchKey('Patient', { _id: 'x' })).toBe('Patient');
  });
});
