// The patient in context after a standalone launch: the token response's `patient`, else the
// id_token's `fhirUser` when that is a Patient reference (Cerner and some healow answers send
// only `fhirUser`; absolute or relative, unconfirmed for healow, so both are read).

export interface PatientContext {
  /** The FHIR Patient id; undefined when neither source names a patient. */
  patientId: string | undefined;
  /** The id_token's `fhirUser` claim as sent (SMART App Launch 2 §"Scopes for requesting identity data"). */
  fhirUser: string | undefined;
  /** Where `patientId` came from. */
  source: 'patient' | 'fhirUser' | undefined;
}

// FHIR id characters (R4 `id` datatype); length not capped: healow ids are long opaque strings.
const FHIR_ID = /^[A-Za-z0-9.-]+$/;

/**
 * The Patient id named by a `fhirUser` value: `Patient/123`, `https://x/fhir/r4/ABC/Patient/123`
 * or either with `/_history/n`. Undefined for other resource types (Practitioner, RelatedPerson).
 */
export function patientIdFromFhirUser(fhirUser: string): string | undefined {
  let path = fhirUser.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(path)) {
    try {
      path = new URL(path).pathname;
    } catch {
      return undefined;
    }
  }
  const segments = path.split('/').filter((s) => s !== '');
  const historyAt = segments.lastIndexOf('_history');
  if (historyAt >= 0) segments.splice(historyAt);
  const id = segments.at(-1);
  const type = segments.at(-2);
  if (type !== 'Patient' || id === undefined) return undefined;
  const decoded = safeDecode(id);
  return decoded !== undefined && FHIR_ID.test(decoded) ? decoded : undefined;
}

/** Patient context from the token response's `patient` and the validated id_token claims. */
export function patientFromTokenResponse(input: {
  patient?: string | undefined;
  idTokenClaims?: Record<string, unknown> | undefined;
}): PatientContext {
  const claim = input.idTokenClaims?.fhirUser;
  const fhirUser = typeof claim === 'string' && claim !== '' ? claim : undefined;
  if (input.patient !== undefined && input.patient !== '') {
    return { patientId: input.patient, fhirUser, source: 'patient' };
  }
  const fromUser = fhirUser === undefined ? undefined : patientIdFromFhirUser(fhirUser);
  return { patientId: fromUser, fhirUser, source: fromUser === undefined ? undefined : 'fhirUser' };
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
