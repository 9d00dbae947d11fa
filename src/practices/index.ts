// Practices: the endpoint directory, operator-added bases, search, health, and the registry the
// vault connects through.
export { type BasePolicy, checkPracticeBase } from './base-policy.ts';
export { type DirectoryContents, readDirectory, type SkippedEntry } from './directory.ts';
export { type DirectorySource, readDirectorySource } from './directory-source.ts';
export {
  type Practice,
  type PracticeRegistry,
  REFRESH_TOKEN_LIFETIME_MS,
  type Vendor,
} from './registry.ts';
export {
  buildPracticeIndex,
  type MatchKind,
  normalizeText,
  type PracticeIndex,
  type PracticeMatch,
} from './search.ts';
export {
  type AddPracticeInput,
  createPracticeService,
  DEFAULT_SEARCH_LIMIT,
  type ImportSummary,
  type ListPracticesOptions,
  type PracticeService,
  type PracticeServiceDeps,
} from './service.ts';
export {
  createStoreRegistry,
  type RegistrationResolver,
  registrationByEnvironment,
  type StorePracticeRegistry,
  type StoreRegistryOptions,
} from './store-registry.ts';
export { type PracticeView, viewMatch, viewPractice } from './view.ts';
