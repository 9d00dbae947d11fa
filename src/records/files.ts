// The stored record written to files, streamed from the store type by type: one `Type.ndjson`
// per type in a folder (the Bulk Data layout), or one collection Bundle in a file. An export is
// a patient's record: folders 0700 and files 0600, like the store.
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../common/clock.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../config/private-files.ts';
import type { Store } from '../store/port.ts';
import { bundleChunks, ndjsonChunks } from '../sync/export.ts';
import { requireConnection } from './reading.ts';

export interface ExportOptions {
  format: 'ndjson' | 'bundle';
  /** A folder for ndjson, a file for bundle. */
  out: string;
}

export interface ExportSummary {
  /** Files written, with the resources in each. */
  files: Array<{ path: string; type: string; count: number }>;
}

async function write(path: string, chunks: AsyncIterable<string>): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
  await pipeline(Readable.from(chunks), createWriteStream(path, { mode: PRIVATE_FILE_MODE }));
}

/** Writes the export; the store is read type by type, never the whole record at once. */
export async function exportToFiles(
  { store, clock }: { store: Store; clock: Clock },
  connectionId: string,
  options: ExportOptions,
): Promise<ExportSummary> {
  await requireConnection(store, connectionId);
  const counts = await store.resources.countByType(connectionId);
  if (options.format === 'ndjson') {
    await mkdir(options.out, { recursive: true, mode: PRIVATE_DIR_MODE });
    const files: ExportSummary['files'] = [];
    for (const [type, count] of Object.entries(counts)) {
      const path = join(options.out, `${type}.ndjson`);
      await write(path, ndjsonChunks(store, connectionId, type));
      files.push({ path, type, count });
    }
    return { files };
  }
  await write(options.out, bundleChunks(store, connectionId, { timestamp: clock.now() }));
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { files: [{ path: options.out, type: '*', count: total }] };
}
