// The FHIR access layer's public surface: the client and the vendor profiles.

export type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from 'fhir/r4.js';
export { nextLink, resourcesOf } from './bundles.ts';
export {
  createFhirClient,
  type FhirClient,
  type FhirClientDeps,
  type FhirTarget,
  type RequestOptions,
  type SearchInput,
  type SearchOptions,
} from './client.ts';
export {
  genericProfile,
  healowProfile,
  isVendorName,
  profileFor,
  REFERENCE_ONLY_TYPES,
  type SearchParams,
  US_CORE_OBSERVATION_CATEGORIES,
  type VendorName,
  type VendorProfile,
} from './profiles.ts';
export { rebaseLink } from './urls.ts';
