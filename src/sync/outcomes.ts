// How a run ended, from how its types ended, and the words for it: which type did not complete
// and why, so a person (the CLI, a webhook's reader) can act on it.
import { BridgeError, type ErrorCode } from '../common/errors.ts';
import type { SyncRunOutcome, TypeOutcome, TypeProgress } from '../store/port.ts';

/** Type outcomes a later attempt may turn into `complete`. */
const RETRYABLE_TYPE: ReadonlySet<TypeOutcome> = new Set(['timed_out', 'failed']);

/**
 * `succeeded` when every type completed or is not supported by the server (a fact about the
 * server that no retry changes; the result's notes name it); `partial` when some type timed out
 * or failed while others completed, or when the server supports none of the types; `failed` when
 * no type completed and some timed out or failed.
 */
export function runOutcome(
  types: Readonly<Record<string, TypeProgress>>,
): Exclude<SyncRunOutcome, 'nothing_granted'> {
  const outcomes = Object.values(types).map((t) => t.outcome ?? 'complete');
  const completed = outcomes.some((o) => o === 'complete');
  const retryable = outcomes.some((o) => RETRYABLE_TYPE.has(o));
  if (!completed) return retryable ? 'failed' : 'partial';
  return retryable ? 'partial' : 'succeeded';
}

/** Whether another attempt could complete a type that did not. */
export function hasRetryableTypes(types: Readonly<Record<string, TypeProgress>>): boolean {
  return Object.values(types).some((t) => t.outcome !== undefined && RETRYABLE_TYPE.has(t.outcome));
}

const WORDS: Readonly<Record<TypeOutcome, string>> = {
  complete: 'complete',
  unsupported: 'not supported by this server',
  timed_out: 'timed out',
  failed: 'failed',
};

/** One line per type that did not complete, or that needed a fallback: `Type: what, why`. */
export function describeTypes(types: Readonly<Record<string, TypeProgress>>): string[] {
  const lines: string[] = [];
  for (const [type, t] of Object.entries(types)) {
    const outcome = t.outcome ?? 'complete';
    if (outcome !== 'complete') {
      lines.push(`${type}: ${WORDS[outcome]}${t.reason ? ` (${t.reason})` : ''}`);
    } else if (t.fallback) {
      lines.push(`${type}: complete, by ${t.fallback}`);
    }
  }
  return lines;
}

/** The per-type outcomes as events and results carry them. */
export function typeOutcomes(
  types: Readonly<Record<string, TypeProgress>>,
): Record<string, { outcome: TypeOutcome; resources: number; reason?: string; fallback?: string }> {
  return Object.fromEntries(
    Object.entries(types).map(([type, t]) => [
      type,
      {
        outcome: t.outcome ?? 'complete',
        resources: t.resources,
        ...(t.reason ? { reason: t.reason } : {}),
        ...(t.fallback ? { fallback: t.fallback } : {}),
      },
    ]),
  );
}

/** Failures a retry cannot fix: the connection is gone or unusable, or the request is wrong. */
const FINAL: ReadonlySet<ErrorCode> = new Set([
  'revoked',
  'reauthorization_required',
  'expired',
  'not_found',
  'invalid_state',
  'invalid_request',
  'invalid_config',
  'scope_denied',
  'forbidden',
  'unauthorized',
  'host_not_allowed',
  'key_error',
]);

export function isRetryableSyncFailure(error: unknown): boolean {
  return !(error instanceof BridgeError && FINAL.has(error.code));
}
