// `fhirbridge keys …`: a registration's keyring from the command line.
import type { Command } from 'commander';
import { BridgeError } from '../common/errors.ts';
import type { Runtime } from '../runtime.ts';

function keyringOf(runtime: Runtime, registration: string): string {
  const r = runtime.config.registrations[registration];
  if (!r)
    throw new BridgeError(
      'invalid_request',
      `no registration "${registration}" (configured: ${Object.keys(runtime.config.registrations).join(', ') || 'none'})`,
    );
  return r.keyring ?? registration;
}

const when = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString());

export function registerKeysCommands(
  program: Command,
  withRuntime: <T>(fn: (rt: Runtime) => Promise<T>) => Promise<T>,
): void {
  const keys = program
    .command('keys')
    .description("a registration's signing keys (private_key_jwt) and JWKS");
  const printList = async (rt: Runtime, registration: string) => {
    const rows = await rt.keys.list(keyringOf(rt, registration));
    console.log(
      [
        'KID'.padEnd(44),
        'STATUS'.padEnd(8),
        'CREATED'.padEnd(25),
        'SIGNS FROM'.padEnd(25),
        'LEAVES JWKS',
      ].join(' '),
    );
    for (const k of rows) {
      console.log(
        [
          k.kid.padEnd(44),
          k.status.padEnd(8),
          when(k.createdAt).padEnd(25),
          when(k.activatesAt).padEnd(25),
          when(k.removeAt),
        ].join(' '),
      );
    }
  };
  keys
    .command('list')
    .argument('[registration]', 'registration name', 'sandbox')
    .description(
      'list the keys: next (published, not yet signing), active, retired (published during grace)',
    )
    .action((registration: string) => withRuntime((rt) => printList(rt, registration)));
  keys
    .command('generate')
    .argument('[registration]', 'registration name', 'sandbox')
    .description('add a key (active if the keyring is empty, else a next key like rotate)')
    .action((registration: string) =>
      withRuntime(async (rt) => {
        const info = await rt.keys.generate(keyringOf(rt, registration));
        console.log(`generated ${info.kid} (${info.status})`);
      }),
    );
  keys
    .command('rotate')
    .argument('[registration]', 'registration name', 'sandbox')
    .description('publish a next key now; it signs after the publish delay, the old key retires')
    .action((registration: string) =>
      withRuntime(async (rt) => {
        const info = await rt.keys.rotate(keyringOf(rt, registration));
        console.log(
          `next key ${info.kid} is published; it signs from ${when(info.activatesAt) || 'now'}`,
        );
      }),
    );
  keys
    .command('import')
    .argument('<file>', 'PKCS#8 or PKCS#1 RSA private key PEM (mode 0600)')
    .argument('[registration]', 'registration name', 'sandbox')
    .description('import an RSA private key (2048 bits or more)')
    .action((file: string, registration: string) =>
      withRuntime(async (rt) => {
        const info = await rt.keys.importPem(keyringOf(rt, registration), file);
        console.log(`imported ${info.kid} (${info.status})`);
      }),
    );
  keys
    .command('jwks')
    .argument('[registration]', 'registration name', 'sandbox')
    .description('print the public JWKS that healow fetches')
    .action((registration: string) =>
      withRuntime(async (rt) => {
        console.log(JSON.stringify(await rt.keys.jwks(keyringOf(rt, registration)), null, 2));
      }),
    );
}
