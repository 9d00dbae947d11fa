// The simulator's options: one zod schema with healow's defaults, read from code, a JSON config
// file (`--config FILE`) or the environment. Everything the server does is decided here.

import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/** healow's sandbox practice plus a few realistic ones for multi-practice tests. */
export const DEFAULT_PRACTICES = [
  { code: 'JAFJCD', name: 'FHIR R4 Prodtest EMR', city: 'Westborough', state: 'MA' },
  { code: 'BFGHDA', name: 'Riverside Family Medicine', city: 'Columbus', state: 'OH' },
  { code: 'CDHJEB', name: 'Lakeview Pediatrics', city: 'Madison', state: 'WI' },
  { code: 'DEBIFC', name: 'Sunrise Internal Medicine Associates', city: 'Phoenix', state: 'AZ' },
  { code: 'EGCAID', name: "Harbor Point Women's Health", city: 'Baltimore', state: 'MD' },
  { code: 'FJDBGE', name: 'Mesa Verde Primary Care', city: 'Albuquerque', state: 'NM' },
] as const;

/** A public demo client, so that the curl walk of docs/simulator.md works out of the box. */
export const DEMO_REGISTRATION = {
  clientId: 'sim-demo-public',
  environment: 'sandbox',
  type: 'public',
  redirectUris: ['http://127.0.0.1:9999/callback'],
  appName: 'Simulator Demo App',
  appDescription: 'A public demo client of the fhirbridge healow simulator.',
} as const;

const practiceSchema = z.object({
  code: z.string().regex(/^[A-Za-z0-9]{1,32}$/, 'a practice code is letters and digits'),
  name: z.string().min(1),
  city: z.string().default(''),
  state: z.string().default(''),
  disabled: z.boolean().default(false),
});

const registrationBase = {
  clientId: z.string().min(1).max(200),
  /** Sandbox and production are separate registrations at healow (separate client ids). */
  environment: z.enum(['sandbox', 'production']).default('sandbox'),
  redirectUris: z.array(z.string().url()).min(1),
  /** Scopes the app may request; undefined = every scope the server supports. */
  scopes: z.array(z.string().min(1)).optional(),
  appName: z.string().min(1).max(200),
  appDescription: z.string().max(2000).default(''),
};

/** One app registration, as a person would enter it in the healow developer portal. */
export const registrationSchema = z.discriminatedUnion('type', [
  z.object({ ...registrationBase, type: z.literal('public') }),
  z.object({
    ...registrationBase,
    type: z.literal('confidential-symmetric'),
    clientSecret: z.string().min(8),
  }),
  z.object({
    ...registrationBase,
    type: z.literal('confidential-asymmetric'),
    /** The allow-listed JWKS URL: assertion verification fetches this URL and no other. */
    jwksUrl: z.string().url(),
  }),
]);
export type Registration = z.infer<typeof registrationSchema>;
export type RegistrationInput = z.input<typeof registrationSchema>;

export const quirksSchema = z.object({
  /** `_lastUpdated` on any search: healow's plain server may refuse it (unconfirmed). */
  searchLastUpdated: z.enum(['accept', 'refuse']).default('refuse'),
  /** `Patient?_id=`: may be refused (unconfirmed); `Patient/{id}` reads always work. */
  searchPatientById: z.enum(['accept', 'refuse']).default('refuse'),
  /** `_include` and `_revinclude`: may be refused (unconfirmed). */
  searchInclude: z.enum(['accept', 'refuse']).default('refuse'),
  /** What `scopes_supported` lists: one scope per type, or `patient/*.read`, or `patient/*.rs`. */
  scopesSupported: z.enum(['per-type', 'wildcard-v1', 'wildcard-v2']).default('per-type'),
  emptyBundleWithoutEntry: z.boolean().default(true),
  wrongBundleTotal: z.boolean().default(true),
  foreignLinks: z.boolean().default(true),
  legacyContentType: z.boolean().default(true),
  retryAfterOn429: z.boolean().default(false),
  refreshTokens: z.enum(['rotate', 'keep']).default('rotate'),
  revokedRefreshStatus: z.union([z.literal(400), z.literal(403)]).default(400),
  /** Serve and advertise an RFC 7009 `revocation_endpoint` (healow advertises none). */
  revocationEndpoint: z.boolean().default(false),
  patientInTokenResponse: z.boolean().default(true),
  fhirUserStyle: z.enum(['absolute', 'relative']).default('absolute'),
});

export const rateLimitSchema = z.object({
  /** healow: 250 calls per minute per practice code (since 2025-10-07). */
  limit: z.number().int().positive().default(250),
  windowMs: z.number().int().positive().default(60_000),
});

export const simulatorOptionsSchema = z.object({
  /** Loopback by default: the admin API must never face a public interface unasked. */
  host: z.string().default('127.0.0.1'),
  /** 0 picks a free port (tests). */
  port: z.number().int().min(0).max(65535).default(9090),
  /** The origin in every URL the simulator hands out; default `http://{host}:{port}` as bound. */
  publicUrl: z.url().optional(),
  practices: z
    .array(practiceSchema)
    .min(1)
    .refine((ps) => new Set(ps.map((p) => p.code)).size === ps.length, 'duplicate practice code')
    .default(() => DEFAULT_PRACTICES.map((p) => ({ ...p, disabled: false }))),
  registrations: z
    .array(registrationSchema)
    .default(() => [registrationSchema.parse(DEMO_REGISTRATION)]),
  /**
   * `healow`: the strict HAPI plain server healow is; `generic`: a permissive reference SMART on
   * FHIR R4 server (every known search parameter, right totals, compact JSON, its own links).
   */
  profile: z.enum(['healow', 'generic']).default('healow'),
  quirks: quirksSchema.prefault({}),
  rateLimit: rateLimitSchema.prefault({}),
  /** The admin API under `/admin`: off unless asked for (tests and `npm start` turn it on). */
  adminEnabled: z.boolean().default(false),
  /** Seed of the patient data and of the fault PRNG: same seed, same data, same faults. */
  seed: z.string().min(1).default('fhirbridge-simulator'),
  /** Size knob for benchmarks; undefined lets the data generator pick its default. */
  resourcesPerPatient: z.number().int().positive().optional(),
  /** Search page size when `_count` is absent (FHIR routes; their default when unset). */
  defaultPageSize: z.number().int().positive().optional(),
  /** Largest `_count` honoured (FHIR routes; their default when unset). */
  maxPageSize: z.number().int().positive().optional(),
  /** Practices in the endpoint directory, generated ones included (0 = only the configured ones). */
  directorySize: z.number().int().min(0).max(100_000).default(0),
  /** Access token lifetime: healow 3600 s (Cerner-like runs use less). */
  accessTokenLifetimeS: z.number().int().positive().default(3600),
  /** Log requests with pino (off in tests). */
  logger: z.boolean().default(false),
});

export type SimulatorOptions = z.infer<typeof simulatorOptionsSchema>;
export type SimulatorOptionsInput = z.input<typeof simulatorOptionsSchema>;

/** Validates and fills in defaults; throws a readable error on a bad option. */
export function resolveSimulatorOptions(input: SimulatorOptionsInput = {}): SimulatorOptions {
  const parsed = simulatorOptionsSchema.safeParse(input);
  if (!parsed.success) {
    throw new Error(`invalid simulator options: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** Reads a JSON config file (same shape as the options); validation happens on resolve. */
export async function readSimulatorConfigFile(path: string): Promise<SimulatorOptionsInput> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as SimulatorOptionsInput;
  } catch (error) {
    throw new Error(`simulator config ${path} is not JSON: ${(error as Error).message}`);
  }
}

/**
 * Registrations from the environment: `FHIRBRIDGE_SIMULATOR_REGISTRATIONS` holds a JSON array of
 * registrations, added to those of the options.
 */
export function registrationsFromEnv(env: NodeJS.ProcessEnv = process.env): RegistrationInput[] {
  const raw = env.FHIRBRIDGE_SIMULATOR_REGISTRATIONS;
  if (!raw) return [];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error('FHIRBRIDGE_SIMULATOR_REGISTRATIONS is not JSON');
  }
  if (!Array.isArray(value)) throw new Error('FHIRBRIDGE_SIMULATOR_REGISTRATIONS must be an array');
  return value as RegistrationInput[];
}
