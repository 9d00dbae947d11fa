// A synced document's Binary as a download: its own content type, never rendered in our origin
// (attachment, nosniff, a sandbox CSP), under a file name made here rather than one the EHR sent.
import type { FastifyReply } from 'fastify';
import type { Store } from '../store/port.ts';

export const BINARY_ID = /^[A-Za-z0-9.-]{1,64}$/;

const EXTENSIONS: Record<string, string> = {
  'application/pdf': 'pdf',
  'application/xml': 'xml',
  'text/xml': 'xml',
  'text/html': 'html',
  'text/plain': 'txt',
  'application/rtf': 'rtf',
};

export interface SyncedDocument {
  binaryId: string;
  contentType: string;
  bytes: Buffer;
}

/** The synced Binary of one connection, or undefined when it was not synced or has no data. */
export async function readDocument(
  store: Pick<Store, 'resources'>,
  connectionId: string,
  binaryId: string,
): Promise<SyncedDocument | undefined> {
  const stored = await store.resources.get(connectionId, 'Binary', binaryId);
  if (!stored) return undefined;
  const binary = JSON.parse(stored.json) as { contentType?: unknown; data?: unknown };
  if (typeof binary.data !== 'string') return undefined;
  const declared = typeof binary.contentType === 'string' ? binary.contentType : '';
  const contentType = /^[A-Za-z0-9.+-]+\/[A-Za-z0-9.+-]+$/.test(declared)
    ? declared.toLowerCase()
    : 'application/octet-stream';
  return { binaryId, contentType, bytes: Buffer.from(binary.data, 'base64') };
}

export function sendDocument(reply: FastifyReply, document: SyncedDocument): FastifyReply {
  const name = `document-${document.binaryId}.${EXTENSIONS[document.contentType] ?? 'bin'}`;
  return reply
    .header('content-type', document.contentType)
    .header('content-disposition', `attachment; filename="${name}"`)
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "sandbox; default-src 'none'")
    .header('cache-control', 'no-store')
    .send(document.bytes);
}
