// `fhirbridge export <connection>`: the stored record to files (records/files.ts):
// `--format ndjson --out DIR` writes one `Type.ndjson` per type (the Bulk Data layout),
// `--format bundle --out FILE` one collection Bundle.
import type { Command } from 'commander';
import { BridgeError } from '../common/errors.ts';
import { exportToFiles } from '../records/files.ts';
import type { Runtime } from '../runtime.ts';

export function registerExportCommand(
  program: Command,
  withRuntime: <T>(fn: (rt: Runtime) => Promise<T>) => Promise<T>,
): void {
  program
    .command('export')
    .argument('<connection>', 'connection id (con_...)')
    .description("write a connection's synced record to files (NDJSON per type, or one Bundle)")
    .option('-f, --format <format>', 'ndjson (one Type.ndjson per type) or bundle', 'ndjson')
    .requiredOption('-o, --out <path>', 'a directory for ndjson, a file for bundle')
    .action((connectionId: string, opts: { format: string; out: string }) =>
      withRuntime(async (rt) => {
        if (opts.format !== 'ndjson' && opts.format !== 'bundle') {
          throw new BridgeError(
            'invalid_request',
            `--format must be ndjson or bundle, not "${opts.format}"`,
          );
        }
        const summary = await exportToFiles(rt, connectionId, {
          format: opts.format,
          out: opts.out,
        });
        if (summary.files.every((f) => f.count === 0) && opts.format === 'ndjson') {
          console.log(
            `nothing synced yet for ${connectionId}: run \`fhirbridge sync ${connectionId}\` first`,
          );
          return;
        }
        for (const f of summary.files) {
          console.log(
            `${String(f.count).padStart(8)}  ${f.type === '*' ? 'resources' : f.type.padEnd(24)}  ${f.path}`,
          );
        }
      }),
    );
}
