// Beside a production registration nothing an operator route fetches may be plain http on this
// machine: the directory import, adding a practice and its health check refuse loopback http
// without sending a request (a request to our own ports would be an attack, not the simulator).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BridgeError } from '../common/errors.ts';
import { createLogger } from '../common/logger.ts';
import { loadConfig } from '../config/index.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import { startTestServer, type TestServer } from '../smart/server.test-helper.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'fhirbridge-production-policy-'));
let runtime: Runtime;
let local: TestServer;

beforeAll(async () => {
  local = await startTestServer(() => ({ body: { resourceType: 'Bundle', type: 'collection' } }));
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir,
      publicUrl: 'https://bridge.example.org',
      logLevel: 'silent',
      registrations: {
        sandbox: { environment: 'sandbox', clientId: 's', clientType: 'public' },
        production: {
          environment: 'production',
          clientId: 'p',
          clientType: 'public',
          authorizationServers: ['https://oauthserver.eclinicalworks.com'],
        },
      },
    },
  });
  runtime = await createRuntime({ config, logger: createLogger({ level: 'silent' }) });
});

afterAll(async () => {
  await runtime?.close();
  await local?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e as BridgeError,
  );

describe('with a production registration', () => {
  it('turns loopback plain http off', () => {
    expect(runtime.config.allowLoopbackHttp).toBe(false);
  });

  it('refuses a directory import from a loopback port without fetching it', async () => {
    const url = `${local.url}/apps/api/v1/fhir/activated_clinical_endpoints`;
    const error = await failureOf(runtime.directory.importDirectory({ url }));
    expect({ code: error.code, message: error.message }).toEqual({
      code: 'invalid_request',
      message: `directory URL ${url} is plain http (https required)`,
    });
    expect(local.requests).toHaveLength(0);
  });

  it('refuses to add a loopback base, and never checks one stored before', async () => {
    const base = `${local.url}/fhir/r4`;
    const error = await failureOf(
      runtime.directory.addPractice({ id: 'LOCAL', name: 'Local', base, vendor: 'generic' }),
    );
    expect(error.message).toBe(`FHIR base URL "${base}" is plain http (https required)`);

    // One that got into the store before (an older import): its check sends nothing.
    const now = runtime.clock.now();
    await runtime.store.practices.insert({
      id: 'OLD',
      name: 'Old',
      base,
      vendor: 'generic',
      registration: null,
      organizationName: null,
      addressLine: null,
      city: null,
      state: null,
      postalCode: null,
      source: 'operator',
      status: 'active',
      statusReason: null,
      health: { lastCheckedAt: null, discoveryOk: null, lastError: null },
      importedAt: now,
      updatedAt: now,
    });
    const checked = await runtime.directory.checkPractice('OLD');
    expect(checked.health.discoveryOk).toBe(false);
    expect(checked.health.lastError).toBe(`FHIR base URL "${base}" is plain http (https required)`);
    expect(local.requests).toHaveLength(0);
  });
});
