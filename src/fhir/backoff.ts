// Waiting between attempts: jittered exponential backoff for 5xx and network failures, and
// `Retry-After` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) when the server sends one.
import { exponentialDelay } from '../common/backoff.ts';

export interface BackoffOptions {
  /** First delay before jitter. */
  baseMs?: number;
  /** No delay exceeds this. */
  capMs?: number;
}

/**
 * Delay before retry number `retry` (1, 2, 3...): "equal jitter", half of base·2^(retry-1)
 * fixed and half random, so that concurrent clients that failed together do not retry together
 * yet each still backs off.
 */
export function backoffDelay(
  retry: number,
  random: () => number,
  { baseMs = 500, capMs = 10_000 }: BackoffOptions = {},
): number {
  const ceiling = exponentialDelay(retry, { initialMs: baseMs, maxMs: capMs });
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** Milliseconds to wait per a `Retry-After` header, or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Every HTTP-date form opens with a day name; Date.parse alone would take '-5' as a year.
  if (!/^[A-Za-z]{3}/.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** A sleep that an abort ends early (with the signal's reason). */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
