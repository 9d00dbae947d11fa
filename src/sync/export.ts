// The stored record as export streams, shared by the API and the CLI: NDJSON per type (the Bulk
// Data output format, one resource per line) and one collection Bundle. Both are built from the
// store's iterator chunk by chunk, never as a whole, and carry each resource's text as stored.
import type { Store } from '../store/port.ts';

/** Chunks are flushed at about this size: fewer writes than one per resource, little memory. */
const CHUNK = 64 * 1024;

/** `type`'s resources as NDJSON (`application/fhir+ndjson`), in chunks. */
export async function* ndjsonChunks(
  store: Store,
  connectionId: string,
  type: string,
): AsyncGenerator<string> {
  let chunk = '';
  for await (const r of store.resources.iterate(connectionId, { type })) {
    chunk += `${r.json}\n`;
    if (chunk.length >= CHUNK) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

export interface BundleExportOptions {
  /** Only this type; every type when absent. */
  type?: string;
  /** Bundle.timestamp (epoch ms). */
  timestamp: number;
}

/**
 * One `collection` Bundle of the record (or one type), in chunks. `fullUrl` is where the
 * resource lives at the EHR (its practice base), so the file stands on its own.
 */
export async function* bundleChunks(
  store: Store,
  connectionId: string,
  options: BundleExportOptions,
): AsyncGenerator<string> {
  let chunk = `{"resourceType":"Bundle","type":"collection","timestamp":${JSON.stringify(
    new Date(options.timestamp).toISOString(),
  )},"entry":[`;
  let first = true;
  const iterable = store.resources.iterate(
    connectionId,
    options.type === undefined ? {} : { type: options.type },
  );
  for await (const r of iterable) {
    const fullUrl = JSON.stringify(`${r.practiceBase}/${r.type}/${r.id}`);
    chunk += `${first ? '' : ','}{"fullUrl":${fullUrl},"resource":${r.json}}`;
    first = false;
    if (chunk.length >= CHUNK) {
      yield chunk;
      chunk = '';
    }
  }
  yield `${chunk}]}`;
}

export interface ExportManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: Array<{ type: string; url: string; count: number }>;
  error: unknown[];
}

/**
 * The Bulk Data style manifest (FHIR Bulk Data Access 2.0, "Response - Complete Status"): one
 * NDJSON file per type, each fetched with the same API key.
 */
export async function exportManifest(
  store: Store,
  connectionId: string,
  options: { request: string; fileUrl: (type: string) => string; now: number },
): Promise<ExportManifest> {
  const counts = await store.resources.countByType(connectionId);
  return {
    transactionTime: new Date(options.now).toISOString(),
    request: options.request,
    requiresAccessToken: true,
    output: Object.entries(counts).map(([type, count]) => ({
      type,
      url: options.fileUrl(type),
      count,
    })),
    error: [],
  };
}
