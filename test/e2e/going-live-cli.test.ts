// The going-live commands as an operator types them: `registration new` writes a registration
// and its keyring into the config file and prints the portal's fields, `registration show`
// prints them again, `doctor` answers with an exit code. Run in-process against a temp config.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/index.ts';
import { DEFAULT_SCOPES } from '../../src/config/index.ts';

let dir: string;
let file: string;
let out: string[];

/** The operator's config file before going live: a data folder and the public URL. */
function writeConfig(publicUrl: string) {
  writeFileSync(file, JSON.stringify({ dataDir: join(dir, 'data'), publicUrl }));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fhirbridge-going-live-'));
  file = join(dir, 'fhirbridge.json');
  writeConfig('https://bridge.example.com');
  out = [];
  vi.spyOn(console, 'log').mockImplementation((...args) => {
    out.push(args.join(' '));
  });
  vi.spyOn(console, 'error').mockImplementation((...args) => {
    out.push(args.join(' '));
  });
  process.exitCode = undefined;
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

const run = (...args: string[]) => main(['node', 'fhirbridge', '--config', file, ...args]);

/** `registration new production` for healow's production environment, with more flags. */
const newProductionRegistration = (clientId: string, ...more: string[]) =>
  run(
    'registration',
    'new',
    'production',
    '--environment',
    'production',
    '--client-id',
    clientId,
    ...more,
  );

describe('registration new and show', () => {
  it('prints the portal fields, writes the registration with the issued client id, and creates its keyring', async () => {
    await newProductionRegistration(
      'prod-client-1',
      '--app-name',
      'Acme Health',
      '--description',
      'Your records in Acme',
    );
    expect(process.exitCode).toBeUndefined();
    const printed = out.join('\n');
    expect(out).toContain("Enter in healow's developer portal (production app):\n");
    expect(out).toContain('  App name        Acme Health');
    expect(out).toContain('  Description     Your records in Acme');
    expect(out).toContain(`  Scopes          ${DEFAULT_SCOPES.join(' ')}`);
    expect(out).toContain('  Redirect URI    https://bridge.example.com/callback');
    expect(out).toContain('  JWKS URL        https://bridge.example.com/jwks/production.json');
    expect(out).toContain(
      '  Authentication  Confidential, asymmetric (private_key_jwt, RS384, JWKS URL)',
    );
    expect(printed).toMatch(/keyring "production": signing key [A-Za-z0-9_-]{43}/);

    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(written.registrations.production).toEqual({
      environment: 'production',
      clientType: 'confidential-asymmetric',
      keyring: 'production',
      scopes: DEFAULT_SCOPES,
      authorizationServers: ['https://oauthserver.eclinicalworks.com'],
      clientId: 'prod-client-1',
    });
    expect(written.defaultRegistration).toBe('production');

    out = [];
    await run('registration', 'show', 'production');
    expect(out[0]).toBe('registration "production": client id prod-client-1\n');
    expect(out).toContain('  JWKS URL        https://bridge.example.com/jwks/production.json');
    const kid = /signing key ([A-Za-z0-9_-]{43})/.exec(printed)?.[1];
    expect(out.at(-1)).toBe(`\nkeyring "production": ${kid} (active)`);
  });

  it('refuses a production registration beside an http publicUrl before printing the portal fields', async () => {
    writeConfig('http://localhost:8080');
    await newProductionRegistration('x');
    expect(process.exitCode).toBe(1);
    expect(out.join('\n')).not.toContain('Enter in healow');
    expect(out.join('\n')).toContain(
      'publicUrl: must be https when the production registration "production" is configured',
    );
    expect(JSON.parse(readFileSync(file, 'utf8')).registrations).toBeUndefined();
  });
});

describe('doctor', () => {
  it('exits 1 when a check fails: the production JWKS URL is on this machine and unreachable', async () => {
    // A closed port on loopback: nothing leaves the machine.
    writeConfig('https://127.0.0.1:1');
    await newProductionRegistration('prod-client-1');
    out = [];
    await run('doctor', '--registration', 'production');
    expect(out[0]).toBe(
      'PASS  registration  production: production, confidential-asymmetric, client id prod-client-1',
    );
    expect(out[1]).toBe(
      'FAIL  jwks url      https://127.0.0.1:1/jwks/production.json is on this machine only',
    );
    expect(out[3]).toMatch(
      /^FAIL {2}jwks {10}https:\/\/127\.0\.0\.1:1\/jwks\/production\.json is unreachable \(/,
    );
    expect(process.exitCode).toBe(1);
  });

  it('refuses a --processes that is not a count', async () => {
    await run('doctor', '--processes', 'two');
    expect(out).toEqual(['fhirbridge: --processes must be a whole number of at least 1']);
    expect(process.exitCode).toBe(1);
  });
});
