// What an operator enters in healow's developer portal for a registration, field by field, in
// the portal's order: the same values fhirbridge sends, so the two cannot disagree.
import type { Config, Registration } from '../config/schema.ts';
import { jwksUrlOf, redirectUriOf } from './checks.ts';

export interface PortalField {
  field: string;
  value: string;
  /** Why the value is what it is, or what to watch for. */
  note?: string;
}

export interface AppText {
  /** Shown on the patient's consent screen ("Personal Information Sharing"). */
  appName: string;
  description: string;
}

const AUTHENTICATION: Record<Registration['clientType'], string> = {
  'confidential-asymmetric': 'Confidential, asymmetric (private_key_jwt, RS384, JWKS URL)',
  'confidential-symmetric': 'Confidential, symmetric (client secret, HTTP Basic)',
  public: 'Public (PKCE only: healow then issues no refresh token)',
};

export function portalFields(
  config: Pick<Config, 'publicUrl'>,
  name: string,
  registration: Pick<Registration, 'environment' | 'clientType' | 'scopes' | 'redirectUri'>,
  text: AppText,
): PortalField[] {
  const fields: PortalField[] = [
    {
      field: 'Environment',
      value: registration.environment === 'sandbox' ? 'Sandbox' : 'Production',
      note:
        registration.environment === 'sandbox'
          ? 'test it with the sandbox practice JAFJCD'
          : 'a separate app from the sandbox one: its own client id and keyring',
    },
    { field: 'App name', value: text.appName, note: "the patient's consent screen shows it" },
    { field: 'Description', value: text.description, note: 'shown under the name on consent' },
    { field: 'App type', value: 'Patient-centric clinical app' },
    { field: 'Launch type', value: 'Standalone launch' },
    { field: 'Authentication', value: AUTHENTICATION[registration.clientType] },
    {
      field: 'Scopes',
      value: registration.scopes.join(' '),
      note: `tick these ${registration.scopes.length}, not "All": a scope asked for and not registered fails the sign-in`,
    },
    {
      field: 'Redirect URI',
      value: redirectUriOf(config, registration),
      note: 'compared byte for byte: no trailing slash, https in production',
    },
  ];
  if (registration.clientType === 'confidential-asymmetric') {
    fields.push({
      field: 'JWKS URL',
      value: jwksUrlOf(config, name),
      note: 'public https; healow fetches it from outside',
    });
  }
  return fields;
}

export function formatPortalFields(fields: readonly PortalField[]): string[] {
  const width = Math.max(...fields.map((f) => f.field.length));
  return fields.flatMap((f) => [
    `${f.field.padEnd(width)}  ${f.value}`,
    ...(f.note ? [`${' '.repeat(width)}  (${f.note})`] : []),
  ]);
}
