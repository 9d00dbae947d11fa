// `fhirbridge connections …`: what the vault holds (never tokens).
import type { Command } from 'commander';
import { listConnections } from '../access/connection-list.ts';
import { OPERATOR } from '../access/ownership.ts';
import type { Runtime } from '../runtime.ts';
import { viewConnection } from '../vault/index.ts';

export function registerConnectionCommands(
  program: Command,
  withRuntime: <T>(fn: (rt: Runtime) => Promise<T>) => Promise<T>,
): void {
  const connections = program
    .command('connections')
    .description('patient connections and their states');
  connections
    .command('list')
    .option('--limit <n>', 'how many', '50')
    .action((opts: { limit: string }) =>
      withRuntime(async (rt) => {
        const { connections: rows } = await listConnections(rt.store, OPERATOR, {
          limit: Number(opts.limit),
          filter: {},
        });
        if (rows.length === 0)
          console.log('no connections yet: open /connect or POST /api/connections');
        for (const c of rows) {
          console.log(
            `${c.id}  ${c.state.padEnd(8)} patient ${c.patientId ?? '-'}  ${c.practiceBase}  user ${c.userRef}`,
          );
        }
      }),
    );
  connections
    .command('show')
    .argument('<id>')
    .action((id: string) =>
      withRuntime(async (rt) =>
        console.log(JSON.stringify(viewConnection(await rt.vault.get(id)), null, 2)),
      ),
    );
  connections
    .command('refresh')
    .argument('<id>')
    .description('refresh the tokens now')
    .action((id: string) =>
      withRuntime(async (rt) => {
        const c = await rt.vault.refresh(id, { force: true });
        console.log(
          `refreshed; access token valid until ${new Date(c.accessExpiresAt ?? 0).toISOString()}`,
        );
      }),
    );
  connections
    .command('disconnect')
    .argument('<id>')
    .description('revoke and forget the tokens, and forget the synced record')
    .option('--keep-record', 'keep the synced record readable and exportable')
    .action((id: string, opts: { keepRecord?: boolean }) =>
      withRuntime(async (rt) => {
        const keepRecord = opts.keepRecord === true;
        const { revoked, resourcesForgotten } = await rt.vault.disconnect(id, { keepRecord });
        console.log(
          [
            `disconnected ${id}`,
            revoked ? 'tokens revoked at the EHR' : 'tokens forgotten',
            keepRecord ? 'record kept' : `${resourcesForgotten} resources forgotten`,
          ].join('; '),
        );
      }),
    );
}
