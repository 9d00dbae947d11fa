import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BridgeError } from '../common/errors.ts';
import { loadConfig } from './load.ts';
import { resolveMasterKeys } from './master-key.ts';

const sandbox = {
  environment: 'sandbox',
  clientId: 'app-sandbox',
  clientType: 'confidential-asymmetric',
} as const;

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BridgeError);
    return ((error as BridgeError).details?.problems as string[]) ?? [];
  }
  throw new Error('expected an invalid_config error');
}

describe('loadConfig', () => {
  it('applies defaults', () => {
    const config = loadConfig({ env: {} });
    expect(config.port).toBe(8080);
    expect(config.publicUrl).toBe('http://localhost:8080');
    expect(config.store).toEqual({ kind: 'sqlite' });
  });

  it('reads FHIRBRIDGE_* variables over the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fb-config-'));
    const file = join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        port: 9000,
        publicUrl: 'https://bridge.example.org',
        registrations: { sandbox },
      }),
    );
    const config = loadConfig({
      env: {
        FHIRBRIDGE_PORT: '9100',
        FHIRBRIDGE_CLIENT_SECRET_SANDBOX: undefined,
        FHIRBRIDGE_RETURN_TO_ALLOW: 'https://app.example.org/, https://b.example.org',
      },
      file,
    });
    expect(config.port).toBe(9100);
    expect(config.publicUrl).toBe('https://bridge.example.org');
    expect(config.registrations.sandbox?.clientId).toBe('app-sandbox');
    expect(config.returnToAllowList).toEqual(['https://app.example.org/', 'https://b.example.org']);
  });

  it('takes client secrets and master keys from the environment', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const config = loadConfig({
      env: {
        FHIRBRIDGE_CLIENT_SECRET_SYM: 's3cret',
        FHIRBRIDGE_MASTER_KEYS: `new:${key},old:${key}`,
      },
      overrides: {
        registrations: {
          sym: { environment: 'sandbox', clientId: 'c', clientType: 'confidential-symmetric' },
        },
      },
    });
    expect(config.registrations.sym?.clientSecret).toBe('s3cret');
    expect(config.masterKeys.map((k) => k.id)).toEqual(['new', 'old']);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: { FHIRBRIDGE_PORT: 'eighty', FHIRBRIDGE_PUBLIC_URL: 'not a url' },
        overrides: {
          registrations: {
            sym: { environment: 'sandbox', clientId: 'c', clientType: 'confidential-symmetric' },
          },
          practices: [
            { id: 'X', name: 'X', base: 'http://ehr.example.org/fhir', registration: 'nope' },
          ],
        },
      }),
    );
    expect(problems.join('\n')).toMatch(/port/);
    expect(problems.join('\n')).toMatch(/publicUrl/);
    expect(problems.join('\n')).toMatch(/clientSecret: is required/);
    expect(problems.join('\n')).toMatch(/names no registration/);
    expect(problems.join('\n')).toMatch(/base: must be https/);
    // Five faults planted, one problem each, and nothing else reported.
    expect(problems).toHaveLength(5);
  });

  it('refuses a production registration without https', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {},
        overrides: {
          registrations: {
            prod: {
              environment: 'production',
              clientId: 'p',
              clientType: 'confidential-asymmetric',
              redirectUri: 'http://localhost:8080/callback',
            },
          },
        },
      }),
    );
    expect(problems.some((p) => p.startsWith('publicUrl: must be https'))).toBe(true);
    expect(problems.some((p) => p.includes('redirectUri: must be https'))).toBe(true);
    expect(problems.some((p) => p.includes('must not be localhost'))).toBe(true);
    expect(
      problems.some((p) => p.startsWith('registrations.prod.authorizationServers: must list')),
    ).toBe(true);
  });

  const production = {
    environment: 'production' as const,
    clientId: 'p',
    clientType: 'confidential-asymmetric' as const,
    authorizationServers: ['https://oauthserver.eclinicalworks.com'],
  };

  it('allows loopback plain http by default, for the simulator', () => {
    expect(
      loadConfig({ env: {}, overrides: { registrations: { sandbox } } }).allowLoopbackHttp,
    ).toBe(true);
  });

  it('turns loopback plain http off when a production registration exists', () => {
    const config = loadConfig({
      env: {},
      overrides: {
        publicUrl: 'https://bridge.example.org',
        registrations: { sandbox, prod: production },
      },
    });
    expect(config.allowLoopbackHttp).toBe(false);
  });

  it('refuses allowLoopbackHttp true, and loopback http practices, beside a production registration', () => {
    const problems = problemsOf(() =>
      loadConfig({
        env: {},
        overrides: {
          publicUrl: 'https://bridge.example.org',
          allowLoopbackHttp: true,
          registrations: { sandbox, prod: production },
          practices: [
            { id: 'SIM', name: 'Sim', base: 'http://127.0.0.1:9090/fhir', registration: 'sandbox' },
          ],
        },
      }),
    );
    expect(problems).toContain(
      'allowLoopbackHttp: cannot be true beside a production registration',
    );
    expect(problems).toContain(
      'practices.0.base: must be https (plain http only on loopback, for the simulator)',
    );
  });

  it('gives the patient pages sign-in limits by default, each one configurable', () => {
    const config = loadConfig({ env: {}, overrides: { signIn: { perBrowser: { limit: 3 } } } });
    expect(config.signIn).toEqual({
      perAddress: { limit: 30, windowMs: 60_000 },
      perBrowser: { limit: 3, windowMs: 60_000 },
      maxAuthSessions: 1000,
      maxPendingConnections: 1000,
      pendingConnectionTtlMs: 3_600_000,
    });
  });

  it('names a broken config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fb-config-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ "clientSecret": "s3cr3t-value" nope }');
    const [problem] = problemsOf(() => loadConfig({ env: {}, file }));
    expect(problem).toContain(file);
    expect(problem).toContain('is not valid JSON');
    expect(problem).not.toContain('s3cr3t-value');
  });
});

describe('resolveMasterKeys', () => {
  it('creates a private key file once and reuses it', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'fb-master-'));
    const first = resolveMasterKeys({ dataDir, masterKeys: [] });
    expect(first.source).toBe('file-created');
    expect(statSync(join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    const again = resolveMasterKeys({ dataDir, masterKeys: [] });
    expect(again.source).toBe('file');
    expect(again.keys[0]?.key.equals(first.keys[0]!.key)).toBe(true);
    expect(readFileSync(join(dataDir, 'master.key'), 'utf8')).toMatch(/^k1:/);
  });

  it('refuses a key file others can read', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'fb-master-'));
    writeFileSync(join(dataDir, 'master.key'), `k1:${Buffer.alloc(32).toString('base64')}`, {
      mode: 0o644,
    });
    expect(() => resolveMasterKeys({ dataDir, masterKeys: [] })).toThrow(/chmod 600/);
  });
});
