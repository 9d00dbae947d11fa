// The one typed configuration of fhirbridge. Loaded from an optional JSON file and FHIRBRIDGE_*
// environment variables (load.ts); every problem is reported at once at start-up.
import { z } from 'zod';
import { isLoopback } from '../common/net.ts';
import {
  connectionExpirySchema,
  syncConfigSchema,
  webhookDeliverySchema,
  webhooksSchema,
} from './schema-background.ts';

/** The SMART scopes a healow patient app asks for by default: the ones known to work at healow. */
export const DEFAULT_SCOPES = [
  'openid',
  'fhirUser',
  'offline_access',
  'launch/patient',
  ...[
    'AllergyIntolerance',
    'Binary',
    'CarePlan',
    'CareTeam',
    'Condition',
    'Device',
    'DiagnosticReport',
    'DocumentReference',
    'Encounter',
    'Goal',
    'Immunization',
    'Location',
    'Medication',
    'MedicationRequest',
    'Observation',
    'Organization',
    'Patient',
    'Practitioner',
    'PractitionerRole',
    'Procedure',
    'Provenance',
  ].map((type) => `patient/${type}.read`),
];

const url = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

const registration = z
  .object({
    environment: z.enum(['sandbox', 'production']),
    clientId: z.string().min(1),
    /** healow's three client types; each implies its token-endpoint authentication. */
    clientType: z.enum(['public', 'confidential-symmetric', 'confidential-asymmetric']),
    clientSecret: z.string().min(1).optional(),
    /** Where the EHR sends the browser back; defaults to `${publicUrl}/callback`. */
    redirectUri: url.optional(),
    scopes: z.array(z.string().min(1)).min(1).default(DEFAULT_SCOPES),
    /** Keyring name for private_key_jwt; defaults to the registration's name. */
    keyring: z.string().min(1).optional(),
    /**
     * Origins this registration's authorize and token endpoints may be on (healow:
     * https://oauthserver.eclinicalworks.com). Discovery answers naming any other are refused, so
     * a practice base cannot send our client credentials or a patient's code elsewhere.
     * Required for production; empty means any (sandbox only).
     */
    authorizationServers: z.array(url.transform((u) => new URL(u).origin)).default([]),
  })
  .superRefine((r, ctx) => {
    if (r.clientType === 'confidential-symmetric' && !r.clientSecret) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientSecret'],
        message: 'is required for a confidential-symmetric client',
      });
    }
    if (r.clientType !== 'confidential-symmetric' && r.clientSecret) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientSecret'],
        message: `is only used by confidential-symmetric clients, not ${r.clientType}`,
      });
    }
  });

const practice = z.object({
  /** The practice code (healow) or any short id. */
  id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9._-]'),
  name: z.string().min(1),
  /** FHIR base URL; a trailing slash is removed. */
  base: url.transform((u) => u.replace(/\/+$/, '')),
  vendor: z.enum(['healow', 'generic']).default('healow'),
  /** Registration used to connect patients of this practice. */
  registration: z.string().min(1),
});

const rateLimit = (limit: number, windowMs: number) =>
  z
    .object({
      limit: z.number().int().min(1).default(limit),
      windowMs: z.number().int().min(1000).default(windowMs),
    })
    .prefault({});

/**
 * The patient pages' sign-ins (`POST /connect`, `GET /launch/…`) need no key, so they are bounded
 * here: every sign-in creates rows and a launch spends the practice's call budget. Each limit
 * counts per route; a refusal is a 429 page.
 */
export const signInLimitsSchema = z
  .object({
    /** Per client address (the address the server sees; behind a proxy, the proxy's). */
    perAddress: rateLimit(30, 60_000),
    /** Per browser (the `fb_browser` cookie); a browser without one is counted by address only. */
    perBrowser: rateLimit(10, 60_000),
    /** Sign-ins started from the patient pages and not yet answered, at most. */
    maxAuthSessions: z.number().int().min(1).default(1000),
    /** Patient-page connections that never connected, at most. */
    maxPendingConnections: z.number().int().min(1).default(1000),
    /** A patient-page connection still pending this long after it was made, with no sign-in in progress, is forgotten. */
    pendingConnectionTtlMs: z
      .number()
      .int()
      .min(60_000)
      .default(60 * 60_000),
  })
  .prefault({});

/**
 * The operator dashboard (`/admin`): who may sign in, with a password stored only as an scrypt
 * hash (`hashAdminPassword` in src/web/admin/auth.ts makes one). No user: the dashboard is off.
 */
export const adminSchema = z
  .object({
    users: z
      .array(
        z.object({
          username: z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9._@-]'),
          passwordHash: z
            .string()
            .regex(
              /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/,
              'must be an scrypt hash',
            ),
        }),
      )
      .default([]),
    /** A dashboard session lasts this long from its sign-in. */
    sessionTtlMs: z
      .number()
      .int()
      .min(60_000)
      .default(8 * 3_600_000),
    /** Sign-in attempts per client address and per username. */
    signInLimit: rateLimit(5, 15 * 60_000),
  })
  .prefault({});

const masterKey = z.object({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
  /** 32 bytes, base64 or base64url. */
  key: z
    .string()
    .refine((k) => Buffer.from(k, 'base64').length === 32, 'must be 32 bytes in base64'),
});

export const configSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /** The URL patients' browsers and healow reach us at (JWKS URL, redirect URI). */
    publicUrl: url.transform((u) => u.replace(/\/+$/, '')).default('http://localhost:8080'),
    dataDir: z.string().default('./data'),
    /** The embedded SQLite file (the default), or PostgreSQL shared by every process (scale-out). */
    store: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('sqlite'), path: z.string().optional() }),
        z.object({
          kind: z.literal('postgres'),
          /** `postgres://user:password@host:port/database`; from FHIRBRIDGE_STORE, kept out of files. */
          url: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// URL'),
          /** Where the tables live: one schema per deployment. */
          schema: z
            .string()
            .regex(
              /^[a-z_][a-z0-9_]{0,62}$/,
              'must be 1-63 of [a-z0-9_], not starting with a digit',
            )
            .default('fhirbridge'),
          /** Clients in each process's pool. */
          maxClients: z.coerce.number().int().min(1).max(100).default(10),
        }),
      ])
      .default({ kind: 'sqlite' }),
    /**
     * Redis for scale-out (FHIRBRIDGE_REDIS, `redis://` or `rediss://`): the job queue shared by
     * every process on every machine. Absent: jobs live in the store.
     */
    redis: z
      .object({
        url: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }),
      })
      .optional(),
    /** Master keys, the first one active. When empty, `${dataDir}/master.key` is used (created if missing). */
    masterKeys: z.array(masterKey).default([]),
    registrations: z.record(z.string().regex(/^[a-z0-9-]{1,32}$/), registration).default({}),
    defaultRegistration: z.string().default('sandbox'),
    practices: z.array(practice).default([]),
    /** Where `returnTo` may send a browser after connecting: origins or URL prefixes. */
    returnToAllowList: z.array(url).default([]),
    keys: z
      .object({
        /** How long a new key is published before it signs (healow caches our JWKS). */
        publishDelayMs: z
          .number()
          .int()
          .min(0)
          .default(10 * 60_000),
        /** How long a retired key stays published. */
        retireGraceMs: z
          .number()
          .int()
          .min(0)
          .default(24 * 3_600_000),
      })
      .default({ publishDelayMs: 10 * 60_000, retireGraceMs: 24 * 3_600_000 }),
    refresh: z
      .object({
        /** Refresh this long before the access token lapses. */
        leewayMs: z
          .number()
          .int()
          .min(0)
          .default(5 * 60_000),
        /** How often the background refresher looks for due connections. */
        intervalMs: z.number().int().min(1000).default(60_000),
      })
      .default({ leewayMs: 5 * 60_000, intervalMs: 60_000 }),
    /** Calls per clock-aligned window per practice base (healow: 250 a minute; we spend 240). */
    budget: z
      .object({
        limit: z.number().int().min(1).default(240),
        windowMs: z.number().int().min(1).default(60_000),
        /** Per practice base URL. */
        limits: z.record(z.string(), z.number().int().min(1)).default({}),
        /**
         * The share of each window kept for live reads and refreshes, handed to background work
         * as the window runs out; 0 turns it off.
         */
        reserveShare: z.number().min(0).lt(1).default(0.25),
        /**
         * The end of each window whose calls count in the next one too (default 1 s of a minute,
         * 1/20 of a shorter window): longer where calls take longer to reach the practice.
         */
        guardMs: z.number().int().min(0).optional(),
      })
      .default({ limit: 240, windowMs: 60_000, limits: {}, reserveShare: 0.25 }),
    /**
     * Plain-http FHIR, auth and directory servers on loopback hosts (the simulator). Default: on
     * unless a production registration exists; it cannot be turned on beside one, since a
     * request that reaches this machine's ports is then an attack, not a test.
     */
    allowLoopbackHttp: z.boolean().optional(),
    signIn: signInLimitsSchema,
    admin: adminSchema,
    /**
     * Behind a reverse proxy: the proxy addresses (or CIDRs) whose X-Forwarded-For is believed,
     * so that the per-address sign-in limits count each patient, not the proxy. `true` believes
     * any sender: only when nothing else can reach the port.
     */
    trustProxy: z.union([z.boolean(), z.array(z.string().min(1))]).default(false),
    /** The job worker and scheduled syncs (schema-background.ts). */
    sync: syncConfigSchema,
    webhooks: webhooksSchema,
    webhookDelivery: webhookDeliverySchema,
    connectionExpiry: connectionExpirySchema,
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
  })
  // Runs even when fields failed (`when`), so that every problem is reported at once: the
  // value may then be partly unparsed, hence the defensive reads.
  .superRefine((c, ctx) => crossCheck(c as unknown as RawConfig, ctx), { when: () => true })
  .transform(({ allowLoopbackHttp, ...c }) => ({
    ...c,
    allowLoopbackHttp: allowLoopbackHttp ?? !hasProduction(c.registrations),
  }));

function hasProduction(registrations: unknown): boolean {
  return Object.values(
    registrations && typeof registrations === 'object' ? registrations : {},
  ).some((r) => (r as { environment?: unknown } | undefined)?.environment === 'production');
}

interface RawConfig {
  publicUrl?: unknown;
  allowLoopbackHttp?: unknown;
  registrations?: Record<string, { environment?: unknown; redirectUri?: unknown } | undefined>;
  practices?: Array<{ base?: unknown; registration?: unknown } | undefined>;
}

function crossCheck(c: RawConfig, ctx: z.RefinementCtx): void {
  const registrations =
    c.registrations && typeof c.registrations === 'object' ? c.registrations : {};
  const publicUrl = typeof c.publicUrl === 'string' ? c.publicUrl : 'http://localhost:8080';
  if (c.allowLoopbackHttp === true && hasProduction(registrations)) {
    ctx.addIssue({
      code: 'custom',
      path: ['allowLoopbackHttp'],
      message: 'cannot be true beside a production registration',
    });
  }
  const loopbackHttp = c.allowLoopbackHttp !== false && !hasProduction(registrations);
  for (const [name, r] of Object.entries(registrations)) {
    if (r?.environment !== 'production') continue;
    if (!publicUrl.startsWith('https://')) {
      ctx.addIssue({
        code: 'custom',
        path: ['publicUrl'],
        message: `must be https when the production registration "${name}" is configured`,
      });
    }
    if (
      !Array.isArray((r as { authorizationServers?: unknown }).authorizationServers) ||
      (r as { authorizationServers: unknown[] }).authorizationServers.length === 0
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['registrations', name, 'authorizationServers'],
        message:
          'must list the authorization server origins of a production registration (healow: https://oauthserver.eclinicalworks.com)',
      });
    }
    const redirect = typeof r.redirectUri === 'string' ? URL.parse(r.redirectUri) : null;
    if (redirect && redirect.protocol !== 'https:') {
      ctx.addIssue({
        code: 'custom',
        path: ['registrations', name, 'redirectUri'],
        message: 'must be https for a production registration',
      });
    }
    if (redirect && isLoopback(redirect.hostname)) {
      ctx.addIssue({
        code: 'custom',
        path: ['registrations', name, 'redirectUri'],
        message: 'must not be localhost for a production registration',
      });
    }
  }
  const practices = Array.isArray(c.practices) ? c.practices : [];
  for (const [i, p] of practices.entries()) {
    if (typeof p?.registration === 'string' && !(p.registration in registrations)) {
      ctx.addIssue({
        code: 'custom',
        path: ['practices', i, 'registration'],
        message: `names no registration ("${p.registration}")`,
      });
    }
    const base = typeof p?.base === 'string' ? URL.parse(p.base) : null;
    if (base?.protocol === 'http:' && !(loopbackHttp === true && isLoopback(base.hostname))) {
      ctx.addIssue({
        code: 'custom',
        path: ['practices', i, 'base'],
        message: 'must be https (plain http only on loopback, for the simulator)',
      });
    }
  }
}

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type Registration = Config['registrations'][string];
export type PracticeConfig = Config['practices'][number];
