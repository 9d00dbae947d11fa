// `fhirbridge export <connection>`: the stored record to files, streamed from the store:
// `--format ndjson --out DIR` writes one `Type.ndjson` per type (the Bulk Data layout),
// `--format bundle --out FILE` one collection Bundle.
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { BridgeError } from '../common/errors.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../config/private-files.ts';
import type { Runtime } from '../runtime.ts';
import { bundleChunks, ndjsonChunks } from '../sync/export.ts';

export interface ExportOptions {
  format: 'ndjson' | 'bundle';
  out: string;
}

export interface ExportSummary {
  /** Files written, with the resources in each. */
  files: Array<{ path: string; type: string; count: number }>;
}

// An export is a patient's record: folders 0700 and files 0600, like the store.
async function write(path: string, chunks: AsyncIterable<string>): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
  await pipeline(Readable.from(chunks), createWriteStream(path, { mode: PRIVATE_FILE_MODE }));
}

/** Writes the export; the store is read type by type, never the whole record at once. */
export async function exportRecord(
  rt: Pick<Runtime, 'store' | 'clock' | 'vault'>,
  connectionId: string,
  options: ExportOptions,
): Promise<ExportSummary> {
  await rt.vault.get(connectionId); // not_found for an unknown connection
  const counts = await rt.store.resources.countByType(connectionId);
  if (options.format === 'ndjson') {
    await mkdir(options.out, { recursive: true, mode: PRIVATE_DIR_MODE });
    const files: ExportSummary['files'] = [];
    for (const [type, count] of Object.entries(counts)) {
      const path = join(options.out, `${type}.ndjson`);
      await write(path, ndjsonChunks(rt.store, connectionId, type));
      files.push({ path, type, count });
    }
    return { files };
  }
  await write(options.out, bundleChunks(rt.store, connectionId, { timestamp: rt.clock.now() }));
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { files: [{ path: options.out, type: '*', count: total }] };
}

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
        const summary = await exportRecord(rt, connectionId, {
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
