// The id_token of an `openid` grant (OpenID Connect Core §2, SMART App Launch §2.0.10): signed
// by the server's own key, iss = the practice base, aud = client_id, and healow's claims
// fhirUser, name, email and profile. fhirUser is absolute or relative by the `fhirUserStyle` quirk.

import type { SimulatorContext } from '../context.ts';
import type { Grant } from './grants.ts';
import type { SigningKeys } from './keys.ts';

export const ID_TOKEN_LIFETIME_S = 3600;

export function fhirUserOf(ctx: SimulatorContext, grant: Grant): string {
  const relative = `Patient/${grant.patientId}`;
  return ctx.quirks.fhirUserStyle === 'relative'
    ? relative
    : `${ctx.urls.fhirBase(grant.practiceCode)}/${relative}`;
}

export async function signIdToken(
  ctx: SimulatorContext,
  keys: SigningKeys,
  grant: Grant,
): Promise<string> {
  const iat = Math.floor(ctx.clock.now() / 1000);
  return keys.sign({
    iss: ctx.urls.fhirBase(grant.practiceCode),
    sub: grant.patientId,
    aud: grant.clientId,
    iat,
    exp: iat + ID_TOKEN_LIFETIME_S,
    ...(grant.nonce === undefined ? {} : { nonce: grant.nonce }),
    fhirUser: fhirUserOf(ctx, grant),
    name: ctx.data.displayName(grant.practiceCode, grant.patientId) ?? grant.username,
    email: `${grant.username.toLowerCase()}@example.com`,
    profile: `${ctx.urls.fhirBase(grant.practiceCode)}/Patient/${grant.patientId}`,
  });
}
