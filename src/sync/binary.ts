// Attachments as Binary: checked against a size cap and a content-type allow-list before the
// read (what the attachment declares) and after it (what the Binary is). healow answers a Binary
// read as JSON with base64 `data` (as healow sends it), stored like any other resource.
import { BridgeError } from '../common/errors.ts';
import type { FhirClient, FhirTarget } from '../fhir/index.ts';
import { compactJson } from '../fhir/json-scan.ts';
import type { Json } from './extract.ts';
import { parseJson, readBodyWithin } from './pages.ts';

export interface AttachmentPolicy {
  /** Largest attachment kept, in decoded bytes. */
  maxBytes: number;
  /** Media types kept; `type/*` allows a whole family. */
  contentTypes: readonly string[];
}

/** Clinical documents and images as EHRs store them (notes, C-CDA, PDFs, scans). */
export const DEFAULT_ATTACHMENT_POLICY: AttachmentPolicy = {
  maxBytes: 20 * 1024 * 1024,
  contentTypes: [
    'text/plain',
    'text/html',
    'text/xml',
    'text/rtf',
    'application/xml',
    'application/pdf',
    'application/rtf',
    'application/json',
    'application/fhir+json',
    'application/fhir+xml',
    'image/*',
  ],
};

export function contentTypeAllowed(policy: AttachmentPolicy, contentType: string): boolean {
  const media = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  const family = `${media.split('/')[0]}/*`;
  return policy.contentTypes.some((allowed) => allowed === media || allowed === family);
}

/** Decoded size of base64 text without decoding it. */
export function base64Size(data: string): number {
  const clean = data.replace(/\s+/g, '');
  const padding = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  return Math.floor((clean.length * 3) / 4) - padding;
}

export type AttachmentOutcome =
  | { status: 'read'; resource: Json; json: string }
  | { status: 'skipped'; reason: string };

/** What the attachment declared, checked before any call. */
export function checkDeclared(
  policy: AttachmentPolicy,
  declared: { contentType: string | null; declaredSize: number | null },
): string | undefined {
  if (declared.contentType !== null && !contentTypeAllowed(policy, declared.contentType)) {
    return `content type ${declared.contentType} is not allowed`;
  }
  if (declared.declaredSize !== null && declared.declaredSize > policy.maxBytes) {
    return `declared size ${declared.declaredSize} is over the cap of ${policy.maxBytes} bytes`;
  }
  return undefined;
}

/** Statuses that end one attachment, not the sync: gone, never there, or not ours to read. */
const PASSING = new Set([403, 404, 410]);

/** Reads `Binary/{id}` within the policy; failures that only concern this attachment are skips. */
export async function readAttachment(
  fhir: FhirClient,
  target: FhirTarget,
  id: string,
  policy: AttachmentPolicy,
  signal?: AbortSignal,
  /** Per attempt; the client's default when absent. */
  timeoutMs?: number,
): Promise<AttachmentOutcome> {
  const what = `GET Binary/${id}`;
  // base64 is 4/3 of the bytes, plus the JSON around it.
  const limit = Math.ceil((policy.maxBytes * 4) / 3) + 64 * 1024;
  let text: string;
  try {
    const res = await fhir.request(target, `Binary/${id}`, {
      priority: 'background',
      ...(signal ? { signal } : {}),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    text = await readBodyWithin(res, limit, what, signal);
  } catch (error) {
    if (error instanceof BridgeError) {
      if (error.details?.tooLarge)
        return { status: 'skipped', reason: `over the cap of ${policy.maxBytes} bytes` };
      if (error.status !== undefined && PASSING.has(error.status))
        return { status: 'skipped', reason: error.message };
      // The raw document instead of FHIR JSON (the client refused its content type): this
      // attachment is unreadable here, the sync goes on.
      if (typeof error.details?.contentType === 'string')
        return { status: 'skipped', reason: error.message };
    }
    throw error;
  }
  let resource: Json | null;
  try {
    resource = parseJson(text, what) as Json | null;
  } catch (error) {
    if (error instanceof BridgeError) return { status: 'skipped', reason: error.message };
    throw error;
  }
  if (resource?.resourceType !== 'Binary' || resource.id !== id) {
    return { status: 'skipped', reason: `${what} did not answer with Binary/${id}` };
  }
  if (
    typeof resource.contentType === 'string' &&
    !contentTypeAllowed(policy, resource.contentType)
  ) {
    return { status: 'skipped', reason: `content type ${resource.contentType} is not allowed` };
  }
  if (typeof resource.data === 'string' && base64Size(resource.data) > policy.maxBytes) {
    return { status: 'skipped', reason: `over the cap of ${policy.maxBytes} bytes` };
  }
  return { status: 'read', resource, json: compactJson(text) };
}
