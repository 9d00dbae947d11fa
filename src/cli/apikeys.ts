// `fhirbridge apikeys …`: keys for the app's backend to call the JSON API.
import type { Command } from 'commander';
import { createApiKey, listApiKeys, revokeApiKey } from '../access/api-keys.ts';
import type { Runtime } from '../runtime.ts';

export function registerApiKeyCommands(
  program: Command,
  withRuntime: <T>(fn: (rt: Runtime) => Promise<T>) => Promise<T>,
): void {
  const apikeys = program
    .command('apikeys')
    .description('API keys for the JSON API (stored hashed)');
  apikeys
    .command('create')
    .argument(
      '<name>',
      'the app that uses the key, e.g. my-app-backend (its keys share its connections)',
    )
    .option('--role <role>', 'app: its own connections; admin: also the operator routes', 'app')
    .description('create a key; the secret is shown once')
    .action((name: string, opts: { role: string }) =>
      withRuntime(async (rt) => {
        const { record, secret } = await createApiKey(rt.store, rt.clock, name, opts.role);
        console.log(`created ${record.id} (${record.name}, ${record.role})`);
        console.log(`secret: ${secret}`);
        console.log(
          'Store it now: it is not shown again. Use it as: Authorization: Bearer <secret>',
        );
      }),
    );
  apikeys
    .command('list')
    .description('list keys (never secrets)')
    .action(() =>
      withRuntime(async (rt) => {
        for (const k of await listApiKeys(rt.store)) {
          const state = k.revokedAt ? 'revoked' : 'active';
          const used = k.lastUsedAt ? new Date(k.lastUsedAt).toISOString() : 'never';
          console.log(
            `${k.id}  ${k.name.padEnd(24)} ${k.role.padEnd(6)} ${state.padEnd(8)} last used ${used}`,
          );
        }
      }),
    );
  apikeys
    .command('revoke')
    .argument('<id>', 'key id (key_…)')
    .action((id: string) =>
      withRuntime(async (rt) => {
        await revokeApiKey(rt.store, rt.clock, id);
        console.log(`revoked ${id}`);
      }),
    );
}
