// healow's discovery documents: `{base}/.well-known/smart-configuration` (issuer = the practice
// base, shared authorization server, S256 only) and the `{base}/metadata` CapabilityStatement
// with the SMART `oauth-uris` extension (authorize and token only). The host root answers 400.

import type { FastifyInstance } from 'fastify';
import { REVOCATION_PATH } from './auth/revoke.ts';
import { EXTRA_LISTED_TYPES, PATIENT_READ_TYPES, scopesSupported } from './auth/scopes.ts';
import type { SimCapabilityStatement, SimDiscovery, SimQuirks, SimUrls } from './context.ts';
import { sendFhir, type WireStyle } from './fhir/outcome.ts';
import { healowParameterSets } from './fhir/parameter-sets.ts';

export const SMART_CAPABILITIES = [
  'launch-standalone',
  'client-public',
  'client-confidential-symmetric',
  'client-confidential-asymmetric',
  'context-standalone-patient',
  'permission-offline',
  'permission-patient',
  'permission-v1',
  'permission-v2',
  'sso-openid-connect',
  'authorize-post',
] as const;

/**
 * The search parameters of a type as HAPI lists them: every name its declared methods take (so
 * `_lastUpdated` appears only where the switch accepts it). Date-typed names by FHIR's definitions.
 */
function searchParamsOf(type: string, quirks: SimQuirks) {
  const names = new Set(
    healowParameterSets(type, quirks).flatMap((s) => [...s.required, ...s.optional]),
  );
  return [...names].map((name) => ({ name, type: SEARCH_PARAM_TYPES[name] ?? 'token' }));
}

/** FHIR search parameter types of the names that are not tokens. */
const SEARCH_PARAM_TYPES: Record<string, string> = {
  patient: 'reference',
  _lastUpdated: 'date',
  date: 'date',
  'onset-date': 'date',
  'target-date': 'date',
  authoredon: 'date',
  _include: 'special',
  _revinclude: 'special',
};

export function createDiscovery(urls: SimUrls, quirks: SimQuirks): SimDiscovery {
  return {
    smartConfiguration(practiceCode) {
      // No revocation, introspection or registration endpoint: healow advertises none. The
      // revocation endpoint is a switch, for the servers that have one.
      return {
        ...(quirks.revocationEndpoint
          ? { revocation_endpoint: `${urls.origin()}${REVOCATION_PATH}` }
          : {}),
        issuer: urls.fhirBase(practiceCode),
        jwks_uri: urls.jwks(),
        authorization_endpoint: urls.authorize(),
        token_endpoint: urls.token(),
        token_endpoint_auth_methods_supported: [
          'client_secret_basic',
          'client_secret_post',
          'private_key_jwt',
          'client_secret_jwt',
        ],
        grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
        scopes_supported: [...scopesSupported(quirks.scopesSupported)],
        response_types_supported: ['code'],
        capabilities: [...SMART_CAPABILITIES],
        code_challenge_methods_supported: ['S256'],
      };
    },
    capabilityStatement(practiceCode) {
      const base = urls.fhirBase(practiceCode);
      const resource = [...PATIENT_READ_TYPES, ...EXTRA_LISTED_TYPES].map((type) => {
        const searchParam = searchParamsOf(type, quirks);
        return {
          type,
          // A type without a search method offers read only (HAPI lists what is declared).
          interaction:
            searchParam.length > 0
              ? [{ code: 'read' }, { code: 'search-type' }]
              : [{ code: 'read' }],
          ...(searchParam.length > 0 ? { searchParam } : {}),
          ...(type === 'Patient'
            ? {
                operation: [
                  {
                    // Declared by healow, but it does not work for patient tokens.
                    name: 'everything',
                    definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything',
                  },
                ],
              }
            : {}),
        };
      });
      return {
        resourceType: 'CapabilityStatement',
        status: 'active',
        date: '2024-01-01T00:00:00-05:00',
        publisher: 'eClinicalWorks',
        kind: 'instance',
        software: { name: 'eCW FHIR Facade', version: '4.0.1' },
        implementation: { description: 'eCW FHIR Facade', url: base },
        fhirVersion: '4.0.1',
        format: ['application/fhir+json', 'application/json+fhir', 'json'],
        instantiates: ['http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server'],
        rest: [
          {
            mode: 'server',
            security: {
              // healow says cors: true but sends no CORS headers.
              cors: true,
              service: [
                {
                  coding: [
                    {
                      system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
                      code: 'SMART-on-FHIR',
                    },
                  ],
                  text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)',
                },
              ],
              extension: [
                {
                  url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
                  extension: [
                    { url: 'authorize', valueUri: urls.authorize() },
                    { url: 'token', valueUri: urls.token() },
                  ],
                },
              ],
            },
            resource,
          },
        ],
      } satisfies SimCapabilityStatement;
    },
  };
}

export function registerDiscoveryRoutes(app: FastifyInstance, discovery: SimDiscovery): void {
  app.get<{ Params: { practice: string } }>(
    '/fhir/r4/:practice/.well-known/smart-configuration',
    (request, reply) =>
      reply
        .type('application/json;charset=UTF-8')
        .send(discovery.smartConfiguration(request.params.practice)),
  );
  // healow answers discovery only on a practice base.
  app.get('/.well-known/smart-configuration', (_request, reply) =>
    reply.code(400).type('application/json;charset=UTF-8').send({
      error: 'invalid_request',
      error_description:
        'smart-configuration is served on a practice base: /fhir/r4/{practiceCode}',
    }),
  );
}

/** `/metadata`, for when the FHIR routes do not serve it themselves; in the profile's wire style. */
export function registerMetadataRoute(
  app: FastifyInstance,
  discovery: SimDiscovery,
  style: () => WireStyle,
): void {
  app.get<{ Params: { practice: string } }>('/fhir/r4/:practice/metadata', (request, reply) =>
    sendFhir(reply, style(), 200, discovery.capabilityStatement(request.params.practice)),
  );
}
