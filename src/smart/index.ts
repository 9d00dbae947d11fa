// The SMART App Launch protocol (standalone launch): discovery, authorize URL, callback, token
// requests with client authentication, id_token validation, patient context, scopes.
// Protocol functions only: no storage, no HTTP server.
export {
  type AuthorizeRequest,
  type AuthorizeUrlParams,
  buildAuthorizeUrl,
  createAuthorizeRequest,
  createPkce,
  type Pkce,
  pkceChallenge,
} from './authorize.ts';
export { normalizeBaseUrl } from './base-url.ts';
export { type CallbackQuery, type CallbackResult, parseCallback } from './callback.ts';
export {
  type ClientAuthentication,
  type ClientAuthMethod,
  clientSecretBasic,
  JWT_BEARER_ASSERTION_TYPE,
  type JwtSigner,
  type PrivateKeyJwtOptions,
  privateKeyJwt,
  publicClient,
} from './client-auth.ts';
export {
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
  OAUTH_URIS_EXTENSION,
  type SmartConfiguration,
} from './discovery.ts';
export {
  createIdTokenValidator,
  ID_TOKEN_ALGORITHMS,
  type IdTokenClaims,
  type IdTokenExpectations,
  type IdTokenValidator,
  type IdTokenValidatorOptions,
} from './id-token.ts';
export { type PatientContext, patientFromTokenResponse, patientIdFromFhirUser } from './patient.ts';
export {
  coversScope,
  formatResourceScope,
  formatScope,
  grantedScopes,
  grantsWrite,
  type LeftOutScope,
  missingScopes,
  parseResourceScope,
  parseScope,
  type ResourceScope,
  type ScopeContext,
  type ScopeSelection,
  selectScopes,
} from './scopes.ts';
export {
  type AuthorizationCodeGrantParams,
  authorizationCodeGrantRequest,
  DEFAULT_EXPIRES_IN_SECONDS,
  exchangeCode,
  isRevocation,
  processRevocationResponse,
  processTokenResponse,
  type RefreshTokenGrantParams,
  type RevocationParams,
  type RevocationTokenType,
  refreshTokenGrantRequest,
  refreshTokens,
  revokeToken,
  type TokenSet,
  tokenRevocationRequest,
} from './token.ts';
