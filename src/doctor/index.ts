// `fhirbridge doctor` as domain logic: every check of one registration, in the order an operator
// fixes them, and the lines and exit code the command prints. The CLI only wires and prints.
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import type { Config } from '../config/schema.ts';
import type { KeyService } from '../keys/index.ts';
import type { Practice } from '../practices/registry.ts';
import {
  type CheckResult,
  type CheckStatus,
  checkBudget,
  checkClock,
  checkFileModes,
  checkJwks,
  checkJwksUrl,
  checkMasterKey,
  checkPractice,
  checkRedirectUri,
  jwksUrlOf,
  redirectUriOf,
} from './checks.ts';

export * from './checks.ts';

export interface DoctorDeps {
  config: Config;
  keys: Pick<KeyService, 'list'>;
  clock: Clock;
  /** Used for the JWKS (at its public URL, as healow fetches it) and discovery. */
  fetch: typeof fetch;
  /** The practices to discover; those of other registrations are skipped. */
  practices: readonly Practice[];
}

export interface DoctorOptions {
  /** Default: the configuration's default registration. */
  registration?: string;
  /** How many fhirbridge processes will call healow with this configuration. */
  processes?: number;
  /** Discoveries at once: each one spends a call of that practice's budget. */
  concurrency?: number;
}

export interface DoctorReport {
  registration: string;
  results: CheckResult[];
  /** 0 when nothing failed (warnings included), 1 otherwise. */
  exitCode: 0 | 1;
}

export async function runDoctor(
  deps: DoctorDeps,
  options: DoctorOptions = {},
): Promise<DoctorReport> {
  const { config } = deps;
  const name = options.registration ?? config.defaultRegistration;
  const registration = config.registrations[name];
  if (!registration) {
    throw new BridgeError(
      'invalid_request',
      `no registration "${name}" (configured: ${Object.keys(config.registrations).join(', ') || 'none'})`,
    );
  }
  const results: CheckResult[] = [
    {
      check: 'registration',
      status: 'pass',
      message: `${name}: ${registration.environment}, ${registration.clientType}, client id ${registration.clientId}`,
    },
  ];
  if (registration.clientType === 'confidential-asymmetric') {
    const url = jwksUrlOf(config, name);
    results.push(checkJwksUrl(url, registration.environment));
    results.push(
      await checkJwks(url, await deps.keys.list(registration.keyring ?? name), deps.fetch),
    );
  }
  results.push(checkRedirectUri(redirectUriOf(config, registration), registration.environment));

  const practices = deps.practices.filter((p) => p.registration === name);
  const checked = await inBatches(practices, options.concurrency ?? 4, (practice) =>
    checkPractice(practice, registration, { clock: deps.clock, fetch: deps.fetch }),
  );
  for (const one of checked) results.push(...one.results);
  if (practices.length === 0) {
    results.push({
      check: 'practices',
      status: 'warn',
      message: `no practice uses the registration "${name}"`,
      fix: 'add one: `fhirbridge practices add` (its base from the endpoint directory)',
    });
  } else {
    const first = checked.findIndex((c) => c.dated);
    const source = first >= 0 ? new URL(practices[first]?.base ?? '').origin : 'any practice';
    results.push(checkClock(checked[first]?.dated, source));
  }
  results.push(checkMasterKey(config));
  results.push(checkFileModes(config));
  results.push(checkBudget(config, options.processes ?? 1));
  return {
    registration: name,
    results,
    exitCode: results.some((r) => r.status === 'fail') ? 1 : 0,
  };
}

const LABEL: Record<CheckStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };

/** One line per check, and under a warn or fail the line saying what to do. */
export function formatReport(report: DoctorReport): string[] {
  const width = Math.max(...report.results.map((r) => r.check.length));
  const lines: string[] = [];
  for (const r of report.results) {
    lines.push(`${LABEL[r.status]}  ${r.check.padEnd(width)}  ${r.message}`);
    if (r.fix) lines.push(`      ${' '.repeat(width)}  → ${r.fix}`);
  }
  const count = (s: CheckStatus) => report.results.filter((r) => r.status === s).length;
  lines.push(`${count('pass')} passed, ${count('warn')} warned, ${count('fail')} failed`);
  return lines;
}

async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  run: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map(run))));
  }
  return out;
}
