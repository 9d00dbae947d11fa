// What a practice refused, remembered per practice base with an expiry, so later syncs go
// straight to what works there. A HAPI plain server answers a parameter set it does not declare
// with a 400 OperationOutcome ("Does not know how to handle get operation with parameter
// [...]"): that is "not supported here", a fact about the server, not an outage.
import { type BridgeError, isBridgeError } from '../common/errors.ts';
import type { Store, SyncRefusal } from '../store/port.ts';

/**
 * What can be refused: the incremental parameter (`Type?_lastUpdated`), `Patient?_id`, a type's
 * `_include` (`Type?_include`), or one search by its key.
 */
export const LAST_UPDATED = '_lastUpdated';
export const PATIENT_BY_ID = 'Patient?_id';
export const INCLUDE = '_include';

export interface Refusals {
  /** The remembered refusal of `query`, if it has not expired. */
  get(query: string): SyncRefusal | undefined;
  /** Remembers that the practice refused `query`, for the configured time. */
  remember(query: string, error: BridgeError): Promise<SyncRefusal>;
}

/** The server's own words for a refusal: its diagnostics when it sent any, else our message. */
export function refusalReason(error: BridgeError): string {
  const outcome = error.details?.outcome as
    | { issue?: Array<{ diagnostics?: unknown }> }
    | undefined;
  const diagnostics = outcome?.issue?.[0]?.diagnostics;
  return typeof diagnostics === 'string' && diagnostics !== '' ? diagnostics : error.message;
}

/** A 400 answer: the server does not take this query (as opposed to an auth or rate limit). */
export function isRefusal(error: unknown): boolean {
  return isBridgeError(error) && error.status === 400;
}

export async function loadRefusals(
  store: Store,
  practiceBase: string,
  now: number,
  ttlMs: number,
): Promise<Refusals> {
  const known = new Map((await store.sync.refusals(practiceBase, now)).map((r) => [r.query, r]));
  return {
    get: (query) => known.get(query),
    async remember(query, error) {
      const refusal: SyncRefusal = {
        practiceBase,
        query,
        reason: refusalReason(error).slice(0, 500),
        refusedAt: now,
        expiresAt: now + ttlMs,
      };
      known.set(query, refusal);
      await store.sync.putRefusal(refusal);
      return refusal;
    },
  };
}
