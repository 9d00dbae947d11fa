import { describe, expect, it } from 'vitest';
import { patientFromTokenResponse, patientIdFromFhirUser } from './patient.ts';

describe('patient context', () => {
  it('prefers the token response patient', () => {
    expect(
      patientFromTokenResponse({
        patient: 'abc.123-X',
        idTokenClaims: { fhirUser: 'https://x/fhir/r4/JAFJCD/Patient/other' },
      }),
    ).toEqual({
      patientId: 'abc.123-X',
      fhirUser: 'https://x/fhir/r4/JAFJCD/Patient/other',
      source: 'patient',
    });
  });

  it('falls back to an absolute fhirUser Patient URL', () => {
    expect(
      patientFromTokenResponse({
        idTokenClaims: { fhirUser: 'https://fhir4.healow.com/fhir/r4/JAFJCD/Patient/a1b2.c3-d4' },
      }),
    ).toMatchObject({ patientId: 'a1b2.c3-d4', source: 'fhirUser' });
  });

  it('falls back to a relative fhirUser Patient reference', () => {
    expect(patientFromTokenResponse({ idTokenClaims: { fhirUser: 'Patient/123' } })).toEqual({
      patientId: '123',
      fhirUser: 'Patient/123',
      source: 'fhirUser',
    });
  });

  it('reads versioned references and ignores non-Patient users', () => {
    expect(patientIdFromFhirUser('https://x/fhir/Patient/9/_history/2')).toBe('9');
    expect(patientIdFromFhirUser('Practitioner/5')).toBeUndefined();
    expect(patientIdFromFhirUser('https://x/fhir/RelatedPerson/5')).toBeUndefined();
    expect(patientIdFromFhirUser('Patient/')).toBeUndefined();
    expect(patientIdFromFhirUser('Patient/a b')).toBeUndefined();
  });

  it('has no patient when neither source names one', () => {
    expect(patientFromTokenResponse({ patient: '', idTokenClaims: { fhirUser: 42 } })).toEqual({
      patientId: undefined,
      fhirUser: undefined,
      source: undefined,
    });
    expect(
      patientFromTokenResponse({ idTokenClaims: { fhirUser: 'Practitioner/1' } }),
    ).toMatchObject({ patientId: undefined, fhirUser: 'Practitioner/1' });
  });
});
