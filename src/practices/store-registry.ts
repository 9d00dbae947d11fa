// The PracticeRegistry the vault connects through, backed by the store: config practices first
// (they win, by id and by base), then the store's directory and operator practices. A vanished
// or disabled practice is never handed out: nothing connects to it, nothing calls its base.
import { isLoopback } from '../common/net.ts';
import type { Config } from '../config/schema.ts';
import type { PracticeRecord, PracticeRepository } from '../store/port.ts';
import type { Practice, PracticeRegistry } from './registry.ts';

export type RegistrationResolver = (practice: PracticeRecord) => string;

/** What the resolver needs of the config (the whole Config fits). */
export interface RegistrationConfig {
  registrations: Readonly<Record<string, { environment: 'sandbox' | 'production' }>>;
  defaultRegistration: string;
}

/**
 * Which registration connects a practice whose record names none: one of its environment's.
 * healow's directory lists production practices; the simulator serves loopback ones, which are
 * sandbox; an operator's practice takes the default registration. Within an environment the
 * default registration is preferred, then the first by name; failing all, the default.
 */
export function registrationByEnvironment(config: RegistrationConfig): RegistrationResolver {
  const names = Object.keys(config.registrations).sort();
  const environmentOf = (name: string) => config.registrations[name]?.environment;
  const pick = (environment: string | undefined) => {
    if (environment === undefined || environmentOf(config.defaultRegistration) === environment) {
      return config.defaultRegistration;
    }
    return names.find((n) => environmentOf(n) === environment) ?? config.defaultRegistration;
  };
  return (practice) => {
    const host = URL.parse(practice.base)?.hostname ?? '';
    if (isLoopback(host)) return pick('sandbox');
    if (practice.source === 'directory') return pick('production');
    return pick(environmentOf(config.defaultRegistration));
  };
}

export interface StoreRegistryOptions {
  repo: PracticeRepository;
  config: Pick<Config, 'practices'> & RegistrationConfig;
  /** Default: registrationByEnvironment(config). */
  resolveRegistration?: RegistrationResolver;
}

export interface StorePracticeRegistry extends PracticeRegistry {
  /** Whether a stored record may be connected to (only `active` ones). */
  usable(record: PracticeRecord): boolean;
}

const LIST_ALL = 1_000_000;

export function createStoreRegistry({
  repo,
  config,
  resolveRegistration = registrationByEnvironment(config),
}: StoreRegistryOptions): StorePracticeRegistry {
  const configured = config.practices.map(
    (p): Practice => ({
      id: p.id,
      name: p.name,
      base: p.base,
      vendor: p.vendor,
      registration: p.registration,
    }),
  );
  const configById = new Map(configured.map((p) => [p.id, p]));
  const configByBase = new Map(configured.map((p) => [p.base, p]));

  const usable = (record: PracticeRecord) => record.status === 'active';
  const toPractice = (record: PracticeRecord): Practice => ({
    id: record.id,
    name: record.name,
    base: record.base,
    vendor: record.vendor,
    registration: record.registration ?? resolveRegistration(record),
  });
  const fromStore = (record: PracticeRecord | undefined) =>
    record && usable(record) ? toPractice(record) : undefined;

  return {
    usable,
    async get(id) {
      return configById.get(id) ?? fromStore(await repo.get(id));
    },
    async byBase(base) {
      const exact = base.replace(/\/+$/, '');
      return configByBase.get(exact) ?? fromStore(await repo.byBase(exact));
    },
    async list() {
      const stored = await repo.list({ status: ['active'], limit: LIST_ALL });
      const rest = stored
        .filter((r) => !configById.has(r.id) && !configByBase.has(r.base))
        .map(toPractice);
      return [...configured, ...rest];
    },
  };
}
