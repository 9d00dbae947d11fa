// How a practice is shown to API clients and the CLI: ISO times, the address as one object.
import type { PracticeRecord, PracticeStatus } from '../store/port.ts';
import type { MatchKind, PracticeMatch } from './search.ts';

export interface PracticeView {
  id: string;
  name: string;
  base: string;
  vendor: PracticeRecord['vendor'];
  /** null: the default registration for the practice's environment. */
  registration: string | null;
  source: PracticeRecord['source'];
  organizationName: string | null;
  address: {
    line: string | null;
    city: string | null;
    state: string | null;
    postalCode: string | null;
  } | null;
  status: PracticeStatus;
  statusReason: string | null;
  health: { lastCheckedAt: string | null; discoveryOk: boolean | null; lastError: string | null };
  importedAt: string;
  updatedAt: string;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function viewPractice(p: PracticeRecord): PracticeView {
  const hasAddress = [p.addressLine, p.city, p.state, p.postalCode].some((f) => f !== null);
  return {
    id: p.id,
    name: p.name,
    base: p.base,
    vendor: p.vendor,
    registration: p.registration,
    source: p.source,
    organizationName: p.organizationName,
    address: hasAddress
      ? { line: p.addressLine, city: p.city, state: p.state, postalCode: p.postalCode }
      : null,
    status: p.status,
    statusReason: p.statusReason,
    health: {
      lastCheckedAt: iso(p.health.lastCheckedAt),
      discoveryOk: p.health.discoveryOk,
      lastError: p.health.lastError,
    },
    importedAt: new Date(p.importedAt).toISOString(),
    updatedAt: new Date(p.updatedAt).toISOString(),
  };
}

export function viewMatch(m: PracticeMatch<PracticeRecord>): PracticeView & { match: MatchKind } {
  return { ...viewPractice(m.practice), match: m.match };
}
