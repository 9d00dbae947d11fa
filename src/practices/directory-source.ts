// Where a directory Bundle comes from: a file path or an http(s) URL (healow's
// activated_clinical_endpoints, or the simulator's), read as a stream of bytes with a size cap.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { BridgeError } from '../common/errors.ts';
import { type BasePolicy, urlPolicyProblem } from './base-policy.ts';

export type DirectorySource = { url: string } | { path: string };

export interface DirectorySourceOptions extends BasePolicy {
  fetch?: typeof fetch;
  /** The whole download, body included. Default 2 minutes. */
  timeoutMs?: number;
  /** healow's directory is 10-15 MB; anything far bigger is not it. Default 100 MB. */
  maxBytes?: number;
}

const MB = 1024 * 1024;

/** For messages and summaries: the URL or path. */
export function describeSource(source: DirectorySource): string {
  return 'url' in source ? source.url : source.path;
}

/** The bytes of the source, chunk by chunk; fails with a BridgeError before or while reading. */
export async function* readDirectorySource(
  source: DirectorySource,
  options: DirectorySourceOptions,
): AsyncGenerator<Uint8Array> {
  const maxBytes = options.maxBytes ?? 100 * MB;
  const chunks = 'url' in source ? fromUrl(source.url, options) : fromFile(source.path);
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      throw new BridgeError(
        'invalid_request',
        `directory is larger than ${Math.round(maxBytes / MB)} MB; not imported`,
      );
    }
    yield chunk;
  }
}

async function* fromFile(path: string): AsyncGenerator<Uint8Array> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a file');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new BridgeError(
      code === 'ENOENT' ? 'not_found' : 'invalid_request',
      `cannot read directory file ${path}: ${code ?? (error as Error).message}`,
    );
  }
  yield* createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>;
}

async function* fromUrl(href: string, options: DirectorySourceOptions): AsyncGenerator<Uint8Array> {
  const url = URL.parse(href);
  if (!url) throw new BridgeError('invalid_request', `directory URL "${href}" is not a URL`);
  const problem = urlPolicyProblem(url, options);
  if (problem) throw new BridgeError('invalid_request', `directory URL ${url.href} ${problem}`);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await fetchImpl(url, {
      headers: { accept: 'application/fhir+json, application/json' },
      signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
    });
  } catch (error) {
    // One message for every network failure: which one it was would tell open ports from closed.
    throw new BridgeError('upstream_error', `directory URL ${url.href} is unreachable or refused`, {
      cause: error,
    });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw new BridgeError(
      'upstream_error',
      `directory URL ${url.href} answered HTTP ${response.status}`,
      { details: { status: response.status } },
    );
  }
  try {
    yield* response.body as unknown as AsyncIterable<Uint8Array>;
  } catch (error) {
    throw new BridgeError('upstream_error', `directory download from ${url.href} failed`, {
      cause: error,
    });
  }
}
