// Checking what a FHIR server answered: the JSON content types we take, and failures turned into
// BridgeErrors that carry the OperationOutcome's diagnostics (healow explains its 400s there).

import type { OperationOutcome } from 'fhir/r4.js';
import { z } from 'zod';
import { BridgeError, type ErrorCode } from '../common/errors.ts';

/**
 * `application/fhir+json` (R4), `application/json`, and `application/json+fhir` (DSTU2's name,
 * which healow still sends as `application/json+fhir;charset=UTF-8`).
 */
const FHIR_JSON_TYPES: ReadonlySet<string> = new Set([
  'application/fhir+json',
  'application/json',
  'application/json+fhir',
]);

export function isFhirJson(contentType: string | null): boolean {
  if (!contentType) return false;
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return FHIR_JSON_TYPES.has(mediaType);
}

/** Rejects a 2xx answer that is not FHIR JSON (an HTML login page, a proxy's error page). */
export function checkContentType(res: Response, what: string): void {
  if (res.status === 204) return;
  const contentType = res.headers.get('content-type');
  if (!isFhirJson(contentType)) {
    throw new BridgeError(
      'upstream_error',
      `${what}: expected FHIR JSON, got ${contentType ? `"${contentType}"` : 'no content type'}`,
      { status: 502, details: { upstreamStatus: res.status, contentType } },
    );
  }
}

const operationOutcomeSchema = z.looseObject({
  resourceType: z.literal('OperationOutcome'),
  issue: z
    .array(
      z.looseObject({
        severity: z.string().optional(),
        code: z.string().optional(),
        diagnostics: z.string().optional(),
        details: z.looseObject({ text: z.string().optional() }).optional(),
      }),
    )
    .optional(),
});

/** The OperationOutcome in a parsed body, or undefined. */
export function asOperationOutcome(body: unknown): OperationOutcome | undefined {
  const parsed = operationOutcomeSchema.safeParse(body);
  return parsed.success ? (parsed.data as OperationOutcome) : undefined;
}

const MAX_OUTCOME_TEXT = 500;

/** The issues' diagnostics (or details.text, or code) joined for a person to read. */
export function outcomeText(outcome: OperationOutcome): string | undefined {
  const parts = (outcome.issue ?? [])
    .map((issue) => issue.diagnostics ?? issue.details?.text ?? issue.code)
    .filter((text): text is string => typeof text === 'string' && text.length > 0);
  if (parts.length === 0) return undefined;
  const text = parts.join('; ');
  return text.length > MAX_OUTCOME_TEXT ? `${text.slice(0, MAX_OUTCOME_TEXT)}…` : text;
}

const MAX_ERROR_BODY = 64 * 1024;

/**
 * The first `limit` bytes of the body as text, the rest cancelled: error bodies can be huge and
 * their start is all a message needs. (A page is read whole or refused: `readBodyWithin` in
 * sync/pages.ts.)
 */
async function readBodyPrefix(res: Response, limit = MAX_ERROR_BODY): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'scope_denied';
  if (status === 404 || status === 410) return 'not_found';
  if (status === 429) return 'rate_limited';
  return 'upstream_error';
}

function leadFor(code: ErrorCode, what: string): string {
  switch (code) {
    case 'unauthorized':
      return `${what}: the FHIR server rejected the access token`;
    case 'scope_denied':
      return `${what}: the granted scopes do not allow this read`;
    case 'not_found':
      return `${what}: not found`;
    case 'rate_limited':
      return `${what}: rate limited by the FHIR server`;
    default:
      return `${what}: the FHIR server failed`;
  }
}

/** A non-2xx answer read: the error to raise, and its OperationOutcome as the server wrote it. */
export interface UpstreamFailure {
  error: BridgeError;
  /** The body, byte for byte, when it is a FHIR OperationOutcome (to pass on unchanged). */
  outcomeText?: string;
}

/**
 * Reads a non-2xx answer, consuming its body: the BridgeError (code from the status, message
 * with the status and the OperationOutcome's text, the outcome itself in `details` so that an API
 * edge can pass the upstream's explanation on) and the outcome's text as sent.
 */
export async function readFailure(res: Response, what: string): Promise<UpstreamFailure> {
  let outcome: OperationOutcome | undefined;
  let sent: string | undefined;
  try {
    const text = await readBodyPrefix(res);
    if (isFhirJson(res.headers.get('content-type')) || text.trimStart().startsWith('{')) {
      outcome = asOperationOutcome(JSON.parse(text));
      if (outcome) sent = text;
    }
  } catch {
    // An unreadable or non-JSON error body: the status alone explains it.
  }
  const code = codeForStatus(res.status);
  const statusLine = `${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  const text = outcome ? outcomeText(outcome) : undefined;
  const error = new BridgeError(
    code,
    `${leadFor(code, what)} (${statusLine})${text ? `: ${text}` : ''}`,
    {
      status: res.status,
      details: { upstreamStatus: res.status, ...(outcome ? { outcome } : {}) },
    },
  );
  return sent === undefined ? { error } : { error, outcomeText: sent };
}

/** The BridgeError for a non-2xx answer, consuming its body (see readFailure). */
export async function failureFrom(res: Response, what: string): Promise<BridgeError> {
  return (await readFailure(res, what)).error;
}

/** Drops a body we will not read, so the connection can be reused. */
export async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => {});
}
