// For the FHIR server's own tests: the FHIR, directory and data admin routes on a fastify
// instance at 127.0.0.1:0 with a fake GrantLookup (tokens minted in-process), a hand-driven
// clock and real patient data, independent of the authorization server.

import Fastify from 'fastify';
import type {
  SimClock,
  SimCounters,
  SimDiscovery,
  SimGrant,
  SimPractice,
  SimQuirks,
  SimulatorContext,
} from '../context.ts';
import { createPatientData, type PatientData } from '../data/index.ts';
import { registerDirectoryRoutes } from '../directory.ts';
import { resolveSimulatorOptions, type SimulatorOptionsInput } from '../options.ts';
import { registerDataAdminRoutes } from './admin.ts';
import { registerFhirRoutes } from './routes.ts';

export const TEST_PRACTICES: SimPractice[] = [
  {
    code: 'JAFJCD',
    name: 'FHIR R4 Prodtest EMR',
    city: 'Westborough',
    state: 'MA',
    disabled: false,
  },
  {
    code: 'DEBIFC',
    name: 'Sunrise Internal Medicine Associates',
    city: 'Phoenix',
    state: 'AZ',
    disabled: false,
  },
  { code: 'CDHJEB', name: 'Lakeview Pediatrics', city: 'Madison', state: 'WI', disabled: true },
];

export interface FhirTestServer {
  origin: string;
  base(code?: string): string;
  ctx: SimulatorContext<PatientData>;
  data: PatientData;
  clock: SimClock & { set(ms: number): void };
  patientId(username: string, practice?: string): string;
  /** Mints an access token for a test patient with these scopes. */
  token(
    username: string,
    scopes: string[],
    options?: { practice?: string; lifetimeMs?: number },
  ): string;
  get(url: string, token?: string, headers?: Record<string, string>): Promise<TestResponse>;
  admin(method: string, path: string, body?: unknown): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test bodies are read field by field
  body: any;
}

export interface FhirTestOptions {
  quirks?: Partial<SimQuirks>;
  seed?: string;
  resourcesPerPatient?: number;
  practices?: SimPractice[];
  /** Read defensively by the directory (not yet an option of options.ts). */
  directorySize?: number;
  defaultPageSize?: number;
  maxPageSize?: number;
}

async function toTestResponse(response: Response): Promise<TestResponse> {
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

export async function startFhirTestServer(input: FhirTestOptions = {}): Promise<FhirTestServer> {
  const practicesList = (input.practices ?? TEST_PRACTICES).map((p) => ({ ...p }));
  const options = {
    ...resolveSimulatorOptions({
      port: 0,
      seed: input.seed ?? 'fhir-tests',
      practices: practicesList,
      quirks: input.quirks ?? {},
      ...(input.resourcesPerPatient === undefined
        ? {}
        : { resourcesPerPatient: input.resourcesPerPatient }),
    } satisfies SimulatorOptionsInput),
    ...(input.directorySize === undefined ? {} : { directorySize: input.directorySize }),
    ...(input.defaultPageSize === undefined ? {} : { defaultPageSize: input.defaultPageSize }),
    ...(input.maxPageSize === undefined ? {} : { maxPageSize: input.maxPageSize }),
  };
  let now = Date.UTC(2026, 2, 1, 12, 0, 0);
  const clock = {
    now: () => now,
    shift: (ms: number) => {
      now += ms;
    },
    set: (ms: number) => {
      now = ms;
    },
  };
  const practices = new Map(options.practices.map((p) => [p.code, p]));
  const data = createPatientData({
    practices: [...practices.values()],
    seed: options.seed,
    clock,
    ...(input.resourcesPerPatient === undefined
      ? {}
      : { resourcesPerPatient: input.resourcesPerPatient }),
  });
  const grants = new Map<string, SimGrant>();
  let origin = '';
  const ctx: SimulatorContext<PatientData> = {
    options,
    clock,
    urls: {
      origin: () => origin,
      fhirBase: (code) => `${origin}/fhir/r4/${code}`,
      authorize: () => `${origin}/oauth/oauth2/authorize`,
      token: () => `${origin}/oauth/oauth2/token`,
      jwks: () => `${origin}/oauth/oauth2/jwks`,
    },
    practices,
    quirks: options.quirks,
    rateLimit: options.rateLimit,
    data,
    grants: {
      introspect: (practiceCode, token) => {
        const grant = grants.get(token);
        return grant && grant.practiceCode === practiceCode && grant.expiresAt > clock.now()
          ? grant
          : undefined;
      },
    },
    counters: {} as SimCounters,
    discovery: {} as SimDiscovery,
  };
  const app = Fastify({ logger: false, forceCloseConnections: true });
  registerFhirRoutes(app, ctx);
  registerDirectoryRoutes(app, ctx);
  await app.register(async (admin) => registerDataAdminRoutes(admin, ctx), { prefix: '/admin' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  origin = `http://127.0.0.1:${address.port}`;
  let minted = 0;

  const patientId = (username: string, practice = 'JAFJCD') => {
    const id = data.patientIdFor(practice, username);
    if (!id) throw new Error(`no ${username} at ${practice}`);
    return id;
  };
  return {
    origin,
    base: (code = 'JAFJCD') => `${origin}/fhir/r4/${code}`,
    ctx,
    data,
    clock,
    patientId,
    token(username, scopes, opts = {}) {
      const practice = opts.practice ?? 'JAFJCD';
      const token = `test-token-${++minted}`;
      grants.set(token, {
        clientId: 'test-client',
        practiceCode: practice,
        patientId: patientId(username, practice),
        scopes,
        expiresAt: clock.now() + (opts.lifetimeMs ?? 3_600_000),
      });
      return token;
    },
    async get(url, token, headers = {}) {
      const full = url.startsWith('http') ? url : `${origin}${url}`;
      return toTestResponse(
        await fetch(full, {
          headers: {
            accept: 'application/fhir+json',
            ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
            ...headers,
          },
        }),
      );
    },
    async admin(method, path, body) {
      return toTestResponse(
        await fetch(`${origin}/admin${path}`, {
          method,
          ...(body === undefined
            ? {}
            : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
        }),
      );
    },
    close: () => app.close(),
  };
}

/** A `next` link rebased onto the base we called (healow's point at its own plain-http host). */
export function rebase(link: string, base: string): string {
  const url = new URL(link);
  const at = url.pathname.indexOf('/fhir/r4/');
  const rest = url.pathname
    .slice(at + '/fhir/r4/'.length)
    .split('/')
    .slice(1)
    .join('/');
  return `${base}${rest ? `/${rest}` : ''}${url.search}`;
}
