// Keys and JWKS: one keyring per app registration (generate, import, rotate, JWKS, RS384 signer).
export { type Jwks, type RsaPublicJwk, SIGNING_ALG } from './jwks.ts';
export {
  createKeyService,
  type KeyInfo,
  type KeyService,
  type KeyServiceDeps,
  type KeySigner,
} from './service.ts';
