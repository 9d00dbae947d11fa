// Practices: which FHIR bases fhirbridge may call, under which registration and vendor profile.
// Only a base listed here (from config now, the endpoint directory later) is ever called.
import type { Config } from '../config/schema.ts';

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

export function configuredPractices(config: Pick<Config, 'practices'>): PracticeRegistry {
  const byId = new Map(config.practices.map((p) => [p.id, p]));
  return {
    get: async (id) => byId.get(id),
    byBase: async (base) => config.practices.find((p) => p.base === base),
    list: async () => [...byId.values()],
  };
}

/**
 * How long a refresh token lives from the first grant, per vendor: healow's are a fixed 90 days;
 * a generic EHR does not say, so we learn of the end only when a refresh fails.
 */
export const REFRESH_TOKEN_LIFETIME_MS: Record<Vendor, number | null> = {
  healow: 90 * 24 * 3_600_000,
  generic: null,
};
