// The checks `fhirbridge doctor` runs before a patient tries a registration: each looks at one
// thing healow will look at (the JWKS at its public URL, the redirect URI, discovery, the clock)
// or one thing the operator must get right (the master key, file modes, the budget), and says
// pass, warn or fail with what to do.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { budgetPathOf } from '../budget/index.ts';
import type { Clock } from '../common/clock.ts';
import { isLoopback } from '../common/net.ts';
import { privatePathsOf, widerThanPrivate } from '../config/private-files.ts';
import type { Config, Registration } from '../config/schema.ts';
import type { KeyInfo } from '../keys/index.ts';
import { createDiscovery, type SmartConfiguration } from '../smart/index.ts';

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  /** Short stable name of the check, e.g. `jwks` or `discovery JAFJCD`. */
  check: string;
  status: CheckStatus;
  /** What was found. */
  message: string;
  /** What to do about a warn or a fail. */
  fix?: string;
}

const pass = (check: string, message: string): CheckResult => ({
  check,
  status: 'pass',
  message,
});
const warn = (check: string, message: string, fix: string): CheckResult => ({
  check,
  status: 'warn',
  message,
  fix,
});
const fail = (check: string, message: string, fix: string): CheckResult => ({
  check,
  status: 'fail',
  message,
  fix,
});

/** healow accepts RS384 only, and a client assertion lives 5 minutes: a minute off is trouble. */
export const CLOCK_SKEW_WARN_MS = 10_000;
export const CLOCK_SKEW_FAIL_MS = 60_000;

/** Members of a private JWK (RFC 7518 §6.3.2, §6.4.1): none may be in a published JWKS. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

const jwksSchema = z.object({
  keys: z.array(z.record(z.string(), z.unknown())),
});

/** The URL healow is given for a registration's JWKS (the one `start` and the guide name). */
export function jwksUrlOf(config: Pick<Config, 'publicUrl'>, registration: string): string {
  return `${config.publicUrl}/jwks/${registration}.json`;
}

/** The redirect URI a registration sends in its authorize requests. */
export function redirectUriOf(
  config: Pick<Config, 'publicUrl'>,
  registration: Pick<Registration, 'redirectUri'>,
): string {
  return registration.redirectUri ?? `${config.publicUrl}/callback`;
}

/**
 * The JWKS URL as healow reaches it: from outside, so a production one must be public HTTPS.
 * A loopback URL is only reachable by the local simulator.
 */
export function checkJwksUrl(url: string, environment: Registration['environment']): CheckResult {
  const parsed = new URL(url);
  if (environment === 'production') {
    if (parsed.protocol !== 'https:')
      return fail(
        'jwks url',
        `${url} is not https`,
        'set publicUrl to the https address healow reaches this server at',
      );
    if (isLoopback(parsed.hostname))
      return fail(
        'jwks url',
        `${url} is on this machine only`,
        'set publicUrl to the public https address healow reaches this server at',
      );
    return pass('jwks url', url);
  }
  if (isLoopback(parsed.hostname))
    return warn(
      'jwks url',
      `${url} is on this machine: the local simulator reaches it, healow's sandbox cannot`,
      "for healow's sandbox, set publicUrl to a public https address (a tunnel will do)",
    );
  return pass('jwks url', url);
}

/**
 * Fetches the JWKS the way healow does (no redirects followed, JSON expected) and checks every
 * key: RSA, `alg` RS384, `use` sig, a `kid`, no private member, and the signing key among them.
 */
export async function checkJwks(
  url: string,
  signingKeys: readonly KeyInfo[],
  fetchImpl: typeof fetch,
): Promise<CheckResult> {
  const name = 'jwks';
  let response: Response;
  try {
    response = await fetchImpl(url, {
      redirect: 'manual',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    return fail(
      name,
      `${url} is unreachable (${(error as Error).message})`,
      'start fhirbridge and check that publicUrl reaches it',
    );
  }
  if (response.status >= 300 && response.status < 400) {
    return fail(
      name,
      `${url} answers ${response.status} to ${response.headers.get('location') ?? '(no location)'}`,
      'healow does not follow redirects: register the final URL, or serve the JWKS at this one',
    );
  }
  if (!response.ok) {
    return fail(name, `${url} answers HTTP ${response.status}`, 'serve the JWKS at this URL');
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return fail(name, `${url} is not JSON`, 'serve the JWKS that `fhirbridge keys jwks` prints');
  }
  const parsed = jwksSchema.safeParse(body);
  if (!parsed.success) {
    return fail(name, `${url} has no "keys" array`, 'serve {"keys": [...]} at this URL');
  }
  const problems: string[] = [];
  for (const [i, key] of parsed.data.keys.entries()) {
    const label = typeof key.kid === 'string' ? `key ${key.kid}` : `key #${i + 1}`;
    if (typeof key.kid !== 'string' || key.kid === '') problems.push(`${label} has no kid`);
    if (key.kty !== 'RSA') problems.push(`${label} is not RSA`);
    if (key.alg !== 'RS384') problems.push(`${label} has alg ${String(key.alg)}, not RS384`);
    if (key.use !== 'sig') problems.push(`${label} has use ${String(key.use)}, not sig`);
    const leaked = PRIVATE_MEMBERS.filter((member) => member in key);
    if (leaked.length > 0) problems.push(`${label} has private members (${leaked.join(', ')})`);
  }
  if (problems.length > 0) {
    const leaks = problems.some((p) => p.includes('private members'));
    return fail(
      name,
      `${url}: ${problems.join('; ')}`,
      leaks
        ? 'the private key is exposed: take it out of the JWKS, then rotate (`fhirbridge keys rotate`) since it must be taken as known'
        : 'serve the JWKS that `fhirbridge keys jwks` prints',
    );
  }
  const published = new Set(parsed.data.keys.map((key) => key.kid));
  const signing = signingKeys.find((key) => key.status === 'active');
  if (!signing) {
    return fail(name, 'the keyring has no active key', 'run `fhirbridge keys generate`');
  }
  if (!published.has(signing.kid)) {
    return fail(
      name,
      `${url} does not publish the signing key ${signing.kid} (it has ${[...published].join(', ') || 'no key'})`,
      "healow refuses every token call signed with a kid it cannot find: serve this registration's JWKS (`fhirbridge keys jwks`) at this URL",
    );
  }
  const next = signingKeys.find((key) => key.status === 'next');
  if (next && !published.has(next.kid)) {
    return fail(
      name,
      `${url} does not publish the next key ${next.kid}, which signs from ${iso(next.activatesAt)}`,
      "serve this registration's JWKS at this URL before the next key starts signing",
    );
  }
  return pass(
    name,
    `${url}: ${published.size} key${published.size === 1 ? '' : 's'}, RS384, use sig, signing key ${signing.kid} published`,
  );
}

/** healow matches the redirect URI byte for byte, and production ones must be public HTTPS. */
export function checkRedirectUri(
  uri: string,
  environment: Registration['environment'],
): CheckResult {
  const name = 'redirect uri';
  const parsed = new URL(uri);
  if (environment === 'production') {
    if (parsed.protocol !== 'https:')
      return fail(name, `${uri} is not https`, 'production redirect URIs must be https');
    if (isLoopback(parsed.hostname))
      return fail(name, `${uri} is localhost`, 'production redirect URIs must not be localhost');
  }
  if (parsed.pathname.endsWith('/') && parsed.pathname !== '/') {
    return warn(
      name,
      `${uri} ends with a slash`,
      'healow compares redirect URIs exactly and fhirbridge answers at /callback: register and configure the same URI without the trailing slash',
    );
  }
  return pass(name, `${uri} (register it exactly so, byte for byte)`);
}

/** What one practice's discovery showed, with the Date header of its answer for the clock check. */
export interface DiscoveryCheck {
  results: CheckResult[];
  /** The upstream's Date header (ms), with our clock's reading when it arrived. */
  dated?: { upstream: number; local: number };
}

/**
 * Discovers one practice's SMART configuration, then checks its authorization server against the
 * registration's allow-list: the list is what keeps our credentials away from any other server.
 */
export async function checkPractice(
  practice: { id: string; base: string },
  registration: Registration,
  { clock, fetch: fetchImpl }: { clock: Clock; fetch: typeof fetch },
): Promise<DiscoveryCheck> {
  let dated: DiscoveryCheck['dated'];
  const recording: typeof fetch = async (input, init) => {
    const response = await fetchImpl(input, init);
    const date = Date.parse(response.headers.get('date') ?? '');
    if (!dated && Number.isFinite(date)) dated = { upstream: date, local: clock.now() };
    return response;
  };
  const discovery = createDiscovery({ clock, fetch: recording });
  let smart: SmartConfiguration;
  try {
    smart = await discovery.discover(practice.base);
  } catch (error) {
    return {
      results: [
        fail(
          `discovery ${practice.id}`,
          `${practice.base}: ${(error as Error).message}`,
          'check the practice base in the endpoint directory (`fhirbridge practices check`)',
        ),
      ],
      ...(dated ? { dated } : {}),
    };
  }
  const results = [
    pass(
      `discovery ${practice.id}`,
      `${practice.base}: authorize ${smart.authorization_endpoint}, token ${smart.token_endpoint}`,
    ),
  ];
  const origins = [
    ...new Set([smart.authorization_endpoint, smart.token_endpoint].map((u) => new URL(u).origin)),
  ];
  const allowed = registration.authorizationServers;
  const name = `auth server ${practice.id}`;
  if (allowed.length === 0) {
    results.push(
      registration.environment === 'production'
        ? fail(
            name,
            `${origins.join(', ')}: the registration lists no authorization server`,
            'add authorizationServers: ["https://oauthserver.eclinicalworks.com"] to the registration',
          )
        : warn(
            name,
            `${origins.join(', ')} accepted: the registration lists no authorization server, so any is`,
            `list it in the registration's authorizationServers (${origins.join(', ')})`,
          ),
    );
  } else {
    const outside = origins.filter((o) => !allowed.includes(o));
    results.push(
      outside.length > 0
        ? fail(
            name,
            `${outside.join(', ')} is not on the registration's allow-list (${allowed.join(', ')})`,
            "sign-ins at this practice will be refused: check its base, or add the server to authorizationServers if it is truly the EHR's",
          )
        : pass(name, `${origins.join(', ')} is on the allow-list`),
    );
  }
  return { results, ...(dated ? { dated } : {}) };
}

/**
 * Our clock against an upstream's Date header: client assertions carry `iat`/`exp` and tokens
 * an expiry, so a clock a minute off gets assertions refused and tokens refreshed late.
 */
export function checkClock(dated: DiscoveryCheck['dated'], source: string): CheckResult {
  if (!dated)
    return warn('clock', `${source} sent no Date header`, 'check the clock with NTP (timedatectl)');
  // The Date header is truncated to the second, so the upstream's time was on average half a
  // second later than it says.
  const skew = dated.local - dated.upstream - 500;
  const seconds = Math.round(skew / 1000);
  const said = `${Math.abs(seconds)} s ${skew >= 0 ? 'ahead of' : 'behind'} ${source}`;
  // The Date header has one-second resolution: a second either way is no skew.
  if (Math.abs(skew) >= CLOCK_SKEW_FAIL_MS)
    return fail('clock', said, 'synchronize the clock (NTP: timedatectl set-ntp true)');
  if (Math.abs(skew) >= CLOCK_SKEW_WARN_MS)
    return warn('clock', said, 'synchronize the clock (NTP: timedatectl set-ntp true)');
  return pass('clock', `within ${Math.max(1, Math.abs(seconds))} s of ${source}`);
}

/** The master key that seals tokens and keys: from the environment, or a 0600 file. */
export function checkMasterKey(config: Pick<Config, 'masterKeys' | 'dataDir'>): CheckResult {
  if (config.masterKeys.length > 0)
    return pass('master key', `from the configuration (${config.masterKeys.length} key(s))`);
  const path = join(config.dataDir, 'master.key');
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return warn(
      'master key',
      `${path} does not exist yet; the first start creates it`,
      'back it up once created, or set FHIRBRIDGE_MASTER_KEY from a secret store: without it the database cannot be read',
    );
  }
  if (mode & 0o077)
    return fail('master key', `${path} has mode ${mode.toString(8)}`, `chmod 600 ${path}`);
  return pass(
    'master key',
    `${path} (mode 600); keep a backup apart from the database, or use FHIRBRIDGE_MASTER_KEY`,
  );
}

/** The data folder and database files must be the service user's alone. */
export function checkFileModes(config: Pick<Config, 'dataDir' | 'store'>): CheckResult {
  const problems = widerThanPrivate(privatePathsOf(config));
  if (problems.length === 0)
    return pass('file modes', `${config.dataDir} and its database are private`);
  return fail(
    'file modes',
    problems.map((p) => `${p.path} is ${p.mode}`).join(', '),
    problems.map((p) => `chmod ${p.expected} ${p.path}`).join('; '),
  );
}

/**
 * healow counts calls per practice across every process of the app, so the processes must
 * share one budget: Redis across machines, the SQLite file among processes of one machine; an
 * in-memory store's budget is its process's alone.
 */
export function checkBudget(
  config: Pick<Config, 'budget' | 'store' | 'dataDir' | 'redis'>,
  processes: number,
): CheckResult {
  const perWindow = `${config.budget.limit} calls per ${config.budget.windowMs / 1000} s per practice`;
  if (config.redis) return pass('budget', `${perWindow}, shared through Redis by every process`);
  const path = budgetPathOf(config);
  const inMemory = path === ':memory:' || path.startsWith('file:');
  if (processes <= 1) {
    return pass('budget', `${perWindow}, ${inMemory ? 'in this process' : `kept in ${path}`}`);
  }
  if (inMemory) {
    return fail(
      'budget',
      `${processes} processes would each spend ${perWindow}: an in-memory store's budget is its process's alone`,
      'store the data in a file (store.path) or set FHIRBRIDGE_REDIS, so that the processes share the budget',
    );
  }
  return warn(
    'budget',
    `${perWindow}, shared through ${path} by the processes of this machine only`,
    'processes on other machines need FHIRBRIDGE_REDIS to share it',
  );
}

function iso(ms: number | null): string {
  return ms === null ? 'now' : new Date(ms).toISOString();
}
