// Practices: which FHIR bases fhirbridge may call, under which registration and vendor profile.
// Only a base in the registry (store-registry.ts: configured practices and directory imports) is
// ever called.

export type Vendor = 'healow' | 'generic';

export interface Practice {
  /** healow practice code or an operator-chosen id. */
  id: string;
  name: string;
  /** FHIR base URL without a trailing slash. */
  base: string;
  vendor: Vendor;
  /** The app registration used to connect this practice's patients. */
  registration: string;
}

export interface PracticeRegistry {
  get(id: string): Promise<Practice | undefined>;
  byBase(base: string): Promise<Practice | undefined>;
  list(): Promise<Practice[]>;
}

/**
 * How long a refresh token lives from the first grant, per vendor: healow's are a fixed 90 days;
 * a generic EHR does not say, so we learn of the end only when a refresh fails.
 */
export const REFRESH_TOKEN_LIFETIME_MS: Record<Vendor, number | null> = {
  healow: 90 * 24 * 3_600_000,
  generic: null,
};
