// Helpers for the simulator's own tests: a small fake PatientDirectory, a server on port 0 with a
// hand-driven clock, and a driver for the browser half of the authorize flow over plain HTTP.

import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { PatientDirectory, SimClock, SimPractice, SimulatorContext } from './context.ts';
import { resolveSimulatorOptions, type SimulatorOptionsInput } from './options.ts';
import { createSimulatorServer, type SimulatorServer } from './server.ts';

export const TEST_USERS = ['AdultFemaleFHIR', 'AdultMaleFHIR', 'ChildFemaleFHIR', 'ChildMaleFHIR'];

/** The redirect URI of the tests' registrations, and of an authorize request unless told. */
export const TEST_REDIRECT = 'http://127.0.0.1:9999/callback';

/** HTTP Basic client authentication: id and secret form-encoded first (RFC 6749 §2.3.1). */
export function basicAuth(clientId: string, secret: string): string {
  const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`;
  return `Basic ${Buffer.from(pair).toString('base64')}`;
}

/** Patient ids `{practice}.{username}`; ChildMaleFHIR has no account at CDHJEB. */
export function fakeDirectory(): PatientDirectory {
  return {
    usernames: () => [...TEST_USERS],
    patientIdFor: (practice, username) =>
      TEST_USERS.includes(username) && !(practice === 'CDHJEB' && username === 'ChildMaleFHIR')
        ? `${practice.toLowerCase()}.${username.toLowerCase()}-1`
        : undefined,
    displayName: (_practice, patientId) => `Name of ${patientId}`,
  };
}

/** A stand-in for the FHIR server: Patient read with bearer checks, enough to test grants. */
function fakeFhirRoutes(app: FastifyInstance, ctx: SimulatorContext): void {
  app.get<{ Params: { practice: string; id: string } }>(
    '/fhir/r4/:practice/Patient/:id',
    (request, reply) => {
      const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      const grant = token ? ctx.grants.introspect(request.params.practice, token) : undefined;
      if (!grant) return reply.code(401).send({ resourceType: 'OperationOutcome' });
      if (grant.patientId !== request.params.id) return reply.code(403).send({});
      return { resourceType: 'Patient', id: grant.patientId };
    },
  );
}

/** A clock that starts at a fixed instant and moves only when told. */
export function manualClock(
  start = Date.UTC(2026, 2, 1, 12, 0, 0),
): SimClock & { set(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    shift(ms) {
      now += ms;
    },
    set(ms) {
      now = ms;
    },
  };
}

export interface TestSimulator extends SimulatorServer<PatientDirectory> {
  origin: string;
  clock: ReturnType<typeof manualClock>;
  base(code?: string): string;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
}

export async function startTestSimulator(
  input: SimulatorOptionsInput = {},
  extra: { fetch?: typeof fetch } = {},
): Promise<TestSimulator> {
  const options = resolveSimulatorOptions({ port: 0, adminEnabled: true, ...input });
  const clock = manualClock();
  const practices = new Map<string, SimPractice>(options.practices.map((p) => [p.code, p]));
  const server = await createSimulatorServer({
    options,
    clock,
    practices,
    data: fakeDirectory(),
    routes: fakeFhirRoutes,
    ...(extra.fetch === undefined ? {} : { fetch: extra.fetch }),
  });
  const origin = await server.listen();
  return {
    ...server,
    origin,
    clock,
    base: (code = 'JAFJCD') => `${origin}/fhir/r4/${code}`,
    admin: (method, path, body) =>
      fetch(`${origin}/admin${path}`, {
        method,
        ...(body === undefined
          ? {}
          : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      }),
  };
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function hiddenRequestId(html: string): string {
  const id = /name="request_id" value="([^"]+)"/.exec(html)?.[1];
  if (!id) throw new Error('no request_id in the page');
  return id;
}

export interface AuthorizeParams {
  clientId?: string;
  redirectUri?: string;
  scope?: string;
  practice?: string;
  state?: string;
  nonce?: string;
}

export function authorizeUrl(
  sim: { origin: string; base(code?: string): string },
  challenge: string,
  params: AuthorizeParams = {},
): string {
  const url = new URL(`${sim.origin}/oauth/oauth2/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: params.clientId ?? 'sim-demo-public',
    redirect_uri: params.redirectUri ?? TEST_REDIRECT,
    scope: params.scope ?? 'openid fhirUser launch/patient patient/Patient.read',
    state: params.state ?? 'state-123',
    aud: sim.base(params.practice),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...(params.nonce === undefined ? {} : { nonce: params.nonce }),
  }).toString();
  return url.href;
}

export async function postForm(
  url: string,
  form: Record<string, string | string[]>,
): Promise<Response> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) {
    for (const item of Array.isArray(v) ? v : [v]) body.append(k, item);
  }
  return fetch(url, { method: 'POST', body, redirect: 'manual' });
}

/**
 * Walks authorize → login → consent (Allow with every scope ticked unless `grant` says which)
 * and returns the code and the verifier.
 */
export async function authorizeCode(
  sim: { origin: string; base(code?: string): string },
  params: AuthorizeParams & { username?: string; grant?: string[] } = {},
): Promise<{ code: string; verifier: string; state: string; redirect: URL }> {
  const { verifier, challenge } = pkcePair();
  const login = await fetch(authorizeUrl(sim, challenge, params), { redirect: 'manual' });
  if (login.status !== 200) throw new Error(`authorize answered ${login.status}`);
  const requestId = hiddenRequestId(await login.text());
  const consent = await postForm(`${sim.origin}/oauth/oauth2/login`, {
    request_id: requestId,
    username: params.username ?? 'AdultFemaleFHIR',
    password: 'e@CWFHIR1',
  });
  const consentHtml = await consent.text();
  const scopes =
    params.grant ??
    [...consentHtml.matchAll(/name="scope" value="([^"]+)"/g)].map((m) => m[1] ?? '');
  const done = await postForm(`${sim.origin}/oauth/oauth2/consent`, {
    request_id: hiddenRequestId(consentHtml),
    scope: scopes,
    decision: 'allow',
  });
  if (done.status !== 302) throw new Error(`consent answered ${done.status}`);
  const redirect = new URL(done.headers.get('location') ?? '');
  const code = redirect.searchParams.get('code');
  if (!code) throw new Error(`no code in ${redirect.href}`);
  return { code, verifier, state: redirect.searchParams.get('state') ?? '', redirect };
}

export async function tokenRequest(
  origin: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${origin}/oauth/oauth2/token`, {
    method: 'POST',
    body: new URLSearchParams(form),
    headers,
  });
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
    headers: response.headers,
  };
}

/** Trades a code that authorizeCode walked to, as the public demo client `sim-demo-public`. */
export function publicClientToken(
  origin: string,
  { code, verifier }: { code: string; verifier: string },
): ReturnType<typeof tokenRequest> {
  return tokenRequest(origin, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: TEST_REDIRECT,
    code_verifier: verifier,
    client_id: 'sim-demo-public',
  });
}
