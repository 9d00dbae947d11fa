// The practices service: import healow's endpoint directory, search, add by hand, health
// checks, disable/enable. The API routes and the CLI call it; the vault reaches practices
// through the registry (store-registry.ts) built on the same repository.
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import type { PracticeConfig } from '../config/schema.ts';
import { createDiscovery } from '../smart/discovery.ts';
import type {
  PracticeListing,
  PracticeRecord,
  PracticeRepository,
  PracticeSource,
  PracticeStatus,
  PracticeVendor,
  ReplaceSourceResult,
} from '../store/port.ts';
import { type BasePolicy, checkPracticeBase, practiceBaseProblem } from './base-policy.ts';
import { readDirectory, type SkippedEntry } from './directory.ts';
import { type DirectorySource, describeSource, readDirectorySource } from './directory-source.ts';
import { checkNewPractice } from './input.ts';
import { buildPracticeIndex, type PracticeIndex, type PracticeMatch } from './search.ts';

export interface PracticeServiceDeps extends BasePolicy {
  repo: PracticeRepository;
  clock: Clock;
  /** Mirrored into the store as source `config` (see syncConfigPractices). */
  configPractices?: readonly PracticeConfig[];
  /** Names of the configured registrations: an added practice may only name one of these. */
  registrations?: readonly string[];
  fetch?: typeof fetch;
  /** The search index is rebuilt after this service's own writes at once; another process's
   *  writes are looked for (one cheap query) at most this often. Default 2 s. */
  indexCheckMs?: number;
  /** Per discovery request of a health check. Default 10 s. */
  checkTimeoutMs?: number;
  /** Directory download limits (directory-source.ts). */
  directory?: { timeoutMs?: number; maxBytes?: number };
}

export interface AddPracticeInput {
  id: string;
  name: string;
  base: string;
  /** Default `generic`: plain SMART on FHIR R4, nothing healow-specific. */
  vendor?: PracticeVendor;
  registration?: string | null;
  organizationName?: string | null;
  addressLine?: string | null;
  city?: string | null;
  state?: string | null;
  postalCode?: string | null;
}

export interface SkippedReason {
  reason: string;
  count: number;
  /** Up to five practice codes (or `entry[n]`). */
  examples: string[];
}

export interface ImportSummary {
  /** The URL or path imported from. */
  source: string;
  /** Elements of the Bundle's `entry` array. */
  entries: number;
  /** Practices the file lists (after skipping). */
  practices: number;
  added: number;
  updated: number;
  unchanged: number;
  vanished: number;
  skipped: { count: number; reasons: SkippedReason[] };
  durationMs: number;
}

export interface ListPracticesOptions {
  limit: number;
  offset?: number;
  status?: readonly PracticeStatus[];
  source?: PracticeSource;
}

export interface PracticeService {
  /** Reads, checks, then writes the directory in one transaction; a bad file writes nothing. */
  importDirectory(source: DirectorySource): Promise<ImportSummary>;
  /** Active practices matching `query` by name, organization, city or code, best first. */
  searchPractices(query: string, limit?: number): Promise<PracticeMatch<PracticeRecord>[]>;
  listPractices(
    options: ListPracticesOptions,
  ): Promise<{ practices: PracticeRecord[]; total: number }>;
  /** BridgeError('not_found') for an unknown id. */
  getPractice(id: string): Promise<PracticeRecord>;
  /** An operator's practice: any SMART on FHIR R4 base, https (or loopback http if allowed). */
  /** Checks the input (checkNewPractice: the one rule for the CLI and the API), then adds it. */
  addPractice(input: AddPracticeInput): Promise<PracticeRecord>;
  /** Runs SMART discovery against the base and records the outcome as the practice's health. */
  checkPractice(id: string): Promise<PracticeRecord>;
  disablePractice(id: string, reason?: string): Promise<PracticeRecord>;
  enablePractice(id: string): Promise<PracticeRecord>;
  /** Mirrors the config practices into the store (source `config`); runs once before first use. */
  syncConfigPractices(): Promise<ReplaceSourceResult>;
}

export const DEFAULT_SEARCH_LIMIT = 20;
const LIST_ALL = 1_000_000;

export function createPracticeService(deps: PracticeServiceDeps): PracticeService {
  const { repo, clock } = deps;
  const policy: BasePolicy = { allowLoopbackHttp: deps.allowLoopbackHttp };
  const indexCheckMs = deps.indexCheckMs ?? 2_000;
  // ttlMs 0: a health check always asks the practice again, never a cached answer.
  const discovery = createDiscovery({
    clock,
    ttlMs: 0,
    timeoutMs: deps.checkTimeoutMs ?? 10_000,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });

  let index: { built: PracticeIndex<PracticeRecord>; mark: string; checkedAt: number } | undefined;
  let building: Promise<PracticeIndex<PracticeRecord>> | undefined;
  let configSynced: Promise<ReplaceSourceResult> | undefined;
  /** Bumped by every write here, so an index built from older data is not kept. */
  let generation = 0;

  const changed = () => {
    generation++;
    index = undefined;
  };

  async function ready(): Promise<void> {
    configSynced ??= syncConfig().catch((error: unknown) => {
      configSynced = undefined; // try again next time
      throw error;
    });
    await configSynced;
  }

  async function syncConfig(): Promise<ReplaceSourceResult> {
    const listings = (deps.configPractices ?? []).map(
      (p): PracticeListing => ({
        id: p.id,
        name: p.name,
        base: p.base.replace(/\/+$/, ''),
        vendor: p.vendor,
        registration: p.registration,
        organizationName: null,
        addressLine: null,
        city: null,
        state: null,
        postalCode: null,
      }),
    );
    const result = await repo.replaceSource('config', listings, clock.now());
    changed();
    return result;
  }

  async function searchIndex(): Promise<PracticeIndex<PracticeRecord>> {
    if (index && clock.now() - index.checkedAt < indexCheckMs) return index.built;
    if (building) return building;
    const startedAt = generation;
    const build = (async () => {
      // The mark is read before the rows: a write in between shows as a new mark next time.
      const mark = await repo.changeMark();
      if (index?.mark === mark) {
        index.checkedAt = clock.now();
        return index.built;
      }
      const built = buildPracticeIndex(await repo.list({ status: ['active'], limit: LIST_ALL }));
      if (generation === startedAt) index = { built, mark, checkedAt: clock.now() };
      return built;
    })().finally(() => {
      if (building === build) building = undefined;
    });
    building = build;
    return build;
  }

  async function getPractice(id: string): Promise<PracticeRecord> {
    await ready();
    const record = await repo.get(id);
    if (!record) throw new BridgeError('not_found', `no practice "${id}"`);
    return record;
  }

  async function patch(id: string, fields: Parameters<PracticeRepository['update']>[1]) {
    await repo.update(id, { ...fields, updatedAt: clock.now() });
    changed();
    return getPractice(id);
  }

  return {
    async importDirectory(source) {
      await ready();
      const startedAt = clock.now();
      const contents = await readDirectory(
        readDirectorySource(source, {
          ...policy,
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
          ...deps.directory,
        }),
        policy,
      );
      const written = await repo.replaceSource('directory', contents.listings, clock.now());
      changed();
      const skipped = [...contents.skipped, ...written.skipped];
      return {
        source: describeSource(source),
        entries: contents.entries,
        practices: contents.listings.length,
        added: written.added,
        updated: written.updated,
        unchanged: written.unchanged,
        vanished: written.vanished,
        skipped: { count: skipped.length, reasons: groupReasons(skipped) },
        durationMs: clock.now() - startedAt,
      };
    },

    async searchPractices(query, limit = DEFAULT_SEARCH_LIMIT) {
      await ready();
      return (await searchIndex()).search(query, limit);
    },

    async listPractices({ limit, offset = 0, status, source }) {
      await ready();
      const filter = { ...(status ? { status } : {}), ...(source ? { source } : {}) };
      const [practices, total] = await Promise.all([
        repo.list({ ...filter, limit, offset }),
        repo.count(filter),
      ]);
      return { practices, total };
    },

    getPractice,

    async addPractice(input) {
      const checked = checkNewPractice(input);
      await ready();
      const base = checkPracticeBase(checked.base, policy);
      const registration = checked.registration;
      if (
        registration !== null &&
        deps.registrations &&
        !deps.registrations.includes(registration)
      ) {
        throw new BridgeError('invalid_request', `no registration "${registration}"`);
      }
      const taken = await repo.byBase(base);
      if (taken && taken.status !== 'vanished') {
        throw new BridgeError('conflict', `practice ${taken.id} already has the base ${base}`);
      }
      const now = clock.now();
      await repo.insert({
        ...checked,
        base,
        registration,
        source: 'operator',
        status: 'active',
        statusReason: null,
        health: { lastCheckedAt: null, discoveryOk: null, lastError: null },
        importedAt: now,
        updatedAt: now,
      });
      changed();
      return getPractice(checked.id);
    },

    async checkPractice(id) {
      const record = await getPractice(id);
      // A base the policy forbids (e.g. an http one imported before https was enforced) is
      // never called, not even for a health check.
      const allowed = practiceBaseProblem(record.base, policy);
      let lastError: string | null = null;
      if ('problem' in allowed) lastError = allowed.problem;
      else {
        try {
          await discovery.discover(allowed.base);
        } catch (error) {
          if (!(error instanceof BridgeError)) throw error;
          lastError = withoutNetworkReason(error.message);
        }
      }
      const health = { lastCheckedAt: clock.now(), discoveryOk: lastError === null, lastError };
      await repo.update(id, { health });
      return getPractice(id);
    },

    async disablePractice(id, reason) {
      const record = await getPractice(id);
      if (record.status === 'vanished') {
        throw new BridgeError('conflict', `practice ${id} has vanished from its source`);
      }
      return patch(id, { status: 'disabled', statusReason: reason ?? 'disabled by the operator' });
    },

    async enablePractice(id) {
      const record = await getPractice(id);
      if (record.status === 'vanished') {
        throw new BridgeError(
          'conflict',
          `practice ${id} has vanished from its source; import it again or add it by hand`,
        );
      }
      if (record.status === 'active') return record;
      return patch(id, { status: 'active', statusReason: null });
    },

    async syncConfigPractices() {
      configSynced = syncConfig();
      return configSynced;
    },
  };
}

function groupReasons(skipped: readonly SkippedEntry[]): SkippedReason[] {
  const byReason = new Map<string, SkippedReason>();
  for (const { id, reason } of skipped) {
    let group = byReason.get(reason);
    if (!group) {
      group = { reason, count: 0, examples: [] };
      byReason.set(reason, group);
    }
    group.count++;
    if (group.examples.length < 5) group.examples.push(id);
  }
  return [...byReason.values()].sort((a, b) => b.count - a.count);
}

/**
 * A check names no network reason: "refused" against "timed out" or "reset" would tell an
 * operator-triggered request's open ports from closed ones, so every one reads the same.
 */
export function withoutNetworkReason(message: string): string {
  return message.replace(/unreachable \([^)]*\)/g, 'unreachable or refused');
}
