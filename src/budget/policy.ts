// The budget policy: how many calls each practice may spend per clock-aligned window.
import { BridgeError } from '../common/errors.ts';
import type { BudgetPolicy } from './port.ts';

/** healow's documented limit per practice base URL and clock minute (brief: "Rate limits"). */
export const HEALOW_CALLS_PER_MINUTE = 250;

/** 10 short of healow's 250, so that clock skew between us and healow cannot tip it over. */
export const DEFAULT_LIMIT = 240;

export const DEFAULT_WINDOW_MS = 60_000;

/**
 * The end of a window whose calls also count in the next, by default: 2 s of a clock minute,
 * enough for a request to reach healow (it counts by arrival), and 1/20 of a shorter window.
 */
export function defaultGuardMs(windowMs: number): number {
  return Math.min(2_000, Math.floor(windowMs / 20));
}

export interface BudgetPolicyOptions {
  limit?: number;
  windowMs?: number;
  /** Per-practice overrides, keyed by practice base URL. */
  limits?: Readonly<Record<string, number>>;
  /** See `BudgetPolicy.guardMs`; default `defaultGuardMs(windowMs)`. */
  guardMs?: number;
}

export function createBudgetPolicy({
  limit = DEFAULT_LIMIT,
  windowMs = DEFAULT_WINDOW_MS,
  limits = {},
  guardMs = defaultGuardMs(windowMs),
}: BudgetPolicyOptions = {}): BudgetPolicy {
  for (const [name, value] of [['limit', limit], ...Object.entries(limits)] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new BridgeError(
        'invalid_config',
        `budget limit for ${name} must be a positive integer`,
      );
    }
  }
  if (!Number.isInteger(windowMs) || windowMs < 1) {
    throw new BridgeError('invalid_config', 'budget windowMs must be a positive integer');
  }
  if (!Number.isInteger(guardMs) || guardMs < 0 || guardMs >= windowMs) {
    throw new BridgeError(
      'invalid_config',
      'budget guardMs must be an integer from 0 to less than windowMs',
    );
  }
  const overrides = new Map(Object.entries(limits));
  return { windowMs, guardMs, limitFor: (practice) => overrides.get(practice) ?? limit };
}
