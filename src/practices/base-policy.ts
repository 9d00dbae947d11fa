// Which FHIR bases (and directory URLs) fhirbridge may call: https, or plain http on a loopback
// host when `allowLoopbackHttp` is on (the local simulator). Production runs with it off.
import { BridgeError } from '../common/errors.ts';
import { isLoopback } from '../common/net.ts';
import { normalizeBaseUrl } from '../smart/base-url.ts';

export interface BasePolicy {
  /** Allow `http:` on localhost / 127.x / ::1 (the simulator). */
  allowLoopbackHttp: boolean;
}

/** Why `url` may not be called, or undefined when it may. */
export function urlPolicyProblem(url: URL, { allowLoopbackHttp }: BasePolicy): string | undefined {
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    if (allowLoopbackHttp && isLoopback(url.hostname)) return undefined;
    return allowLoopbackHttp
      ? 'is plain http on a host that is not loopback (https required)'
      : 'is plain http (https required)';
  }
  return `has protocol ${url.protocol} (https required)`;
}

/**
 * The base as stored and compared (absolute, no trailing slash, no query or fragment), or
 * BridgeError('invalid_request') saying why it may not be used.
 */
export function checkPracticeBase(base: string, policy: BasePolicy): string {
  const normalized = normalizeBaseUrl(base);
  const problem = urlPolicyProblem(new URL(normalized), policy);
  if (problem) throw new BridgeError('invalid_request', `FHIR base URL "${normalized}" ${problem}`);
  return normalized;
}

/** Like checkPracticeBase, but returns the problem as text instead of throwing. */
export function practiceBaseProblem(
  base: string,
  policy: BasePolicy,
): { base: string } | { problem: string } {
  try {
    return { base: checkPracticeBase(base, policy) };
  } catch (error) {
    if (error instanceof BridgeError) return { problem: error.message };
    throw error;
  }
}
