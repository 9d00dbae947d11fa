// Loads the configuration: defaults < JSON file (FHIRBRIDGE_CONFIG or --config) < environment.
// All problems come back together in one BridgeError('invalid_config') whose message lists them.
import { readFileSync } from 'node:fs';
import { BridgeError } from '../common/errors.ts';
import { type Config, type ConfigInput, configSchema } from './schema.ts';

type Env = Record<string, string | undefined>;

/** Environment variables and the config path they set. Secrets are best given here, not in a file. */
const ENV_PATHS: Record<string, string[]> = {
  FHIRBRIDGE_HOST: ['host'],
  FHIRBRIDGE_PORT: ['port'],
  FHIRBRIDGE_PUBLIC_URL: ['publicUrl'],
  FHIRBRIDGE_DATA_DIR: ['dataDir'],
  FHIRBRIDGE_STORE_PATH: ['store', 'path'],
  FHIRBRIDGE_STORE_SCHEMA: ['store', 'schema'],
  FHIRBRIDGE_REDIS: ['redis', 'url'],
  FHIRBRIDGE_LOG_LEVEL: ['logLevel'],
  FHIRBRIDGE_DEFAULT_REGISTRATION: ['defaultRegistration'],
};

export interface LoadOptions {
  env?: Env;
  /** Path of a JSON config file; FHIRBRIDGE_CONFIG when absent. */
  file?: string;
  /** Values that win over everything (CLI flags, `start --with-simulator` defaults go in `base`). */
  overrides?: ConfigInput;
  /** Values under the file and environment (e.g. the simulator's sandbox defaults). */
  base?: ConfigInput;
}

export function loadConfig({ env = process.env, file, overrides, base }: LoadOptions = {}): Config {
  const problems: string[] = [];
  let input: Record<string, unknown> = structuredClone((base ?? {}) as Record<string, unknown>);

  const path = file ?? env.FHIRBRIDGE_CONFIG;
  if (path) {
    try {
      input = merge(input, JSON.parse(readFileSync(path, 'utf8')));
    } catch (error) {
      // A JSON error names the position only: its usual message quotes the file, secrets and all.
      const position = /position (\d+)/.exec((error as Error).message)?.[1];
      const why =
        error instanceof SyntaxError
          ? `is not valid JSON${position ? ` (at character ${position})` : ''}`
          : (error as Error).message;
      problems.push(`config file ${path}: ${why}`);
    }
  }

  for (const [name, keyPath] of Object.entries(ENV_PATHS)) {
    const value = env[name];
    if (value !== undefined && value !== '') input = setPath(input, keyPath, value);
  }
  const list = (name: string) =>
    env[name]
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  // FHIRBRIDGE_STORE=postgres://... picks the PostgreSQL store (its password stays out of files);
  // FHIRBRIDGE_STORE=sqlite the embedded one.
  const storeUrl = env.FHIRBRIDGE_STORE;
  if (storeUrl) {
    const kind = /^postgres(ql)?:\/\//.test(storeUrl) ? 'postgres' : storeUrl;
    if (kind === 'postgres')
      input = setPath(setPath(input, ['store', 'kind'], kind), ['store', 'url'], storeUrl);
    else if (kind === 'sqlite') input = setPath(input, ['store', 'kind'], kind);
    // Only the scheme is quoted: the URL may carry a password.
    else
      problems.push(
        `FHIRBRIDGE_STORE: must be sqlite or a postgres:// URL (got "${storeUrl.split(':')[0]}:...")`,
      );
  }
  const allow = list('FHIRBRIDGE_RETURN_TO_ALLOW');
  if (allow) input.returnToAllowList = allow;
  const masterKeys = list('FHIRBRIDGE_MASTER_KEYS') ?? list('FHIRBRIDGE_MASTER_KEY');
  if (masterKeys) {
    // "id:base64,id2:base64" (first active) or one bare base64 key (id "k1").
    input.masterKeys = masterKeys.map((entry, i) => {
      const at = entry.indexOf(':');
      return at > 0
        ? { id: entry.slice(0, at), key: entry.slice(at + 1) }
        : { id: `k${i + 1}`, key: entry };
    });
  }
  // FHIRBRIDGE_CLIENT_SECRET_<REGISTRATION>: keeps client secrets out of config files.
  for (const [name, value] of Object.entries(env)) {
    const match = /^FHIRBRIDGE_CLIENT_SECRET_([A-Z0-9_]+)$/.exec(name);
    if (match?.[1] && value) {
      input = setPath(
        input,
        ['registrations', match[1].toLowerCase().replaceAll('_', '-'), 'clientSecret'],
        value,
      );
    }
  }
  // FHIRBRIDGE_WEBHOOK_SECRET_<N>: the signing secret of webhooks[N], kept out of config files.
  for (const [name, value] of Object.entries(env)) {
    const index = /^FHIRBRIDGE_WEBHOOK_SECRET_(\d{1,3})$/.exec(name)?.[1];
    if (index === undefined || !value) continue;
    const hooks: unknown[] = Array.isArray(input.webhooks) ? [...input.webhooks] : [];
    const hook = hooks[Number(index)];
    hooks[Number(index)] = { ...(isObject(hook) ? hook : {}), secret: value };
    input.webhooks = hooks;
  }
  if (overrides) input = merge(input, overrides as Record<string, unknown>);

  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw new BridgeError(
      'invalid_config',
      `invalid configuration:\n  - ${problems.join('\n  - ')}`,
      {
        details: { problems },
      },
    );
  }
  return parsed.data;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(a: Record<string, unknown>, b: unknown): Record<string, unknown> {
  if (!isObject(b)) throw new Error('must be a JSON object');
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? merge(prev, v) : v;
  }
  return out;
}

function setPath(
  obj: Record<string, unknown>,
  path: string[],
  value: unknown,
): Record<string, unknown> {
  const [head, ...rest] = path;
  if (!head) return obj;
  const child = obj[head];
  return {
    ...obj,
    [head]: rest.length === 0 ? value : setPath(isObject(child) ? child : {}, rest, value),
  };
}
