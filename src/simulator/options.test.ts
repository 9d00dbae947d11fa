import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { simulatorOptionsFrom } from './cli.ts';
import {
  readSimulatorConfigFile,
  registrationsFromEnv,
  resolveSimulatorOptions,
} from './options.ts';

describe('simulator options', () => {
  it('defaults to healow: sandbox JAFJCD plus more practices, 250/min, loopback, admin off', () => {
    const options = resolveSimulatorOptions();
    expect(options.host).toBe('127.0.0.1');
    expect(options.port).toBe(9090);
    expect(options.adminEnabled).toBe(false);
    expect(options.rateLimit).toEqual({ limit: 250, windowMs: 60_000 });
    expect(options.practices[0]).toMatchObject({ code: 'JAFJCD', name: 'FHIR R4 Prodtest EMR' });
    expect(options.practices.length).toBeGreaterThanOrEqual(5);
    expect(new Set(options.practices.map((p) => p.code)).size).toBe(options.practices.length);
    expect(options.registrations.map((r) => r.clientId)).toEqual(['sim-demo-public']);
    expect(options.profile).toBe('healow');
    expect(options.quirks).toMatchObject({
      searchLastUpdated: 'refuse',
      searchPatientById: 'refuse',
      searchInclude: 'refuse',
      scopesSupported: 'per-type',
      retryAfterOn429: false,
      refreshTokens: 'rotate',
      revokedRefreshStatus: 400,
      fhirUserStyle: 'absolute',
    });
  });

  it('fills nested defaults and refuses bad values', () => {
    const options = resolveSimulatorOptions({
      rateLimit: { limit: 5 },
      quirks: { refreshTokens: 'keep' },
    });
    expect(options.rateLimit).toEqual({ limit: 5, windowMs: 60_000 });
    expect(options.quirks.refreshTokens).toBe('keep');
    expect(options.quirks.legacyContentType).toBe(true);
    expect(() => resolveSimulatorOptions({ rateLimit: { limit: 0 } })).toThrow(
      /invalid simulator options/,
    );
    expect(() =>
      resolveSimulatorOptions({
        practices: [
          { code: 'A', name: 'a' },
          { code: 'A', name: 'b' },
        ],
      }),
    ).toThrow(/duplicate/);
    expect(() =>
      resolveSimulatorOptions({
        registrations: [
          {
            clientId: 'c',
            type: 'confidential-symmetric',
            redirectUris: ['https://a/cb'],
            appName: 'A',
          } as never,
        ],
      }),
    ).toThrow();
  });

  it('reads a JSON config file and registrations from the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sim-options-'));
    const file = join(dir, 'sim.json');
    await writeFile(file, JSON.stringify({ adminEnabled: true, seed: 'from-file' }));
    expect(await readSimulatorConfigFile(file)).toEqual({ adminEnabled: true, seed: 'from-file' });
    await writeFile(file, '{oops');
    await expect(readSimulatorConfigFile(file)).rejects.toThrow(/not JSON/);
    const env = {
      FHIRBRIDGE_SIMULATOR_REGISTRATIONS: JSON.stringify([
        {
          clientId: 'env-app',
          type: 'public',
          redirectUris: ['http://127.0.0.1:1/cb'],
          appName: 'Env',
        },
      ]),
    };
    expect(registrationsFromEnv(env)[0]).toMatchObject({ clientId: 'env-app' });
    expect(registrationsFromEnv({})).toEqual([]);
    expect(() => registrationsFromEnv({ FHIRBRIDGE_SIMULATOR_REGISTRATIONS: '{}' })).toThrow();
  });

  it('takes the profile from --profile, healow or generic only', async () => {
    expect(
      resolveSimulatorOptions(await simulatorOptionsFrom({ profile: 'generic' }, {})).profile,
    ).toBe('generic');
    await expect(simulatorOptionsFrom({ profile: 'hapi' }, {})).rejects.toThrow(/--profile/);
    expect(() => resolveSimulatorOptions({ profile: 'hapi' as never })).toThrow(/profile/);
  });
});
