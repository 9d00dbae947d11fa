// The command line and the API check input with one rule each: the same bad input is refused by
// both with the same message. And no command fails without saying why.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../access/api-keys.ts';
import { createLogger } from '../common/logger.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import { buildApp } from '../server.ts';
import { main } from './index.ts';
import { resolveConfig } from './setup.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'fhirbridge-validation-'));
let runtime: Runtime;
let app: FastifyInstance;
let adminKey: string;
let errors: string[];

beforeAll(async () => {
  vi.stubEnv('FHIRBRIDGE_DATA_DIR', dataDir);
  vi.stubEnv('FHIRBRIDGE_CONFIG', '');
  const { config } = resolveConfig({});
  runtime = await createRuntime({ config, logger: createLogger({ level: 'silent' }) });
  app = buildApp(runtime);
  await app.ready();
  adminKey = (await createApiKey(runtime.store, runtime.clock, 'operator', 'admin')).secret;
});

afterAll(async () => {
  await app?.close();
  await runtime?.close();
  vi.unstubAllEnvs();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(() => {
  errors = [];
  vi.spyOn(console, 'error').mockImplementation((line: unknown) => {
    errors.push(String(line));
  });
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
  process.exitCode = undefined;
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

/** Runs `fhirbridge ...args` in-process: its exit code and what it printed as an error. */
async function cli(...args: string[]) {
  await main(['node', 'fhirbridge', ...args]);
  return { exitCode: process.exitCode, errors: [...errors] };
}

async function api(method: 'POST', url: string, payload: unknown) {
  const response = await app.inject({
    method,
    url,
    payload: payload as Record<string, unknown>,
    headers: { authorization: `Bearer ${adminKey}` },
  });
  return {
    status: response.statusCode,
    message: (response.json() as { error: { message: string } }).error.message,
  };
}

describe('one validation for the CLI and the API', () => {
  it('refuses `practices add --id ../x` in both, with the same message, adding nothing', async () => {
    const fields = { name: 'X', base: 'https://ehr.example.org/fhir/r4' };
    const fromCli = await cli(
      'practices',
      'add',
      '--id',
      '../x',
      '--name',
      fields.name,
      '--base',
      fields.base,
    );
    const fromApi = await api('POST', '/api/practices', { id: '../x', ...fields });
    const message = 'invalid practice: id: must be 1-64 of [A-Za-z0-9._-]';
    expect(fromApi).toEqual({ status: 400, message });
    expect(fromCli).toEqual({ exitCode: 1, errors: [`fhirbridge: ${message}`] });
    expect(await runtime.store.practices.byBase(fields.base)).toBeUndefined();
  });

  it('refuses `apikeys create ""` in both, with the same message, creating no key', async () => {
    const before = (await runtime.store.apiKeys.list()).length;
    const fromCli = await cli('apikeys', 'create', '');
    const fromApi = await api('POST', '/api/apikeys', { name: '' });
    const message =
      'invalid API key: name: must be 1-64 of [A-Za-z0-9._-], starting with a letter or digit';
    expect(fromApi).toEqual({ status: 400, message });
    expect(fromCli).toEqual({ exitCode: 1, errors: [`fhirbridge: ${message}`] });
    expect(await runtime.store.apiKeys.list()).toHaveLength(before);
  });

  it('refuses an unknown role in both, with the same message', async () => {
    const fromCli = await cli('apikeys', 'create', 'billing', '--role', 'root');
    const fromApi = await api('POST', '/api/apikeys', { name: 'billing', role: 'root' });
    const message = 'invalid API key: role: must be app or admin';
    expect(fromApi).toEqual({ status: 400, message });
    expect(fromCli).toEqual({ exitCode: 1, errors: [`fhirbridge: ${message}`] });
  });
});

describe('the command line', () => {
  it('`simulate --port abc` exits non-zero and says why', async () => {
    const { exitCode, errors: printed } = await cli('simulate', '--port', 'abc');
    expect(exitCode).toBe(1);
    expect(printed).toEqual(['fhirbridge: --port must be a whole number']);
  });
});
