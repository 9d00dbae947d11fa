// The FHIR base URL as SMART wants it: absolute http(s), no trailing slash. healow compares the
// authorize `aud` with the base exactly, so one spelling is used everywhere (cache keys too).
import { BridgeError } from '../common/errors.ts';

/** `https://x/fhir/r4/ABC/` → `https://x/fhir/r4/ABC`; throws `invalid_request` for a non-URL. */
export function normalizeBaseUrl(baseUrl: string): string {
  const trimmed = baseUrl.trim().replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw new BridgeError('invalid_request', `FHIR base URL "${trimmed}" is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new BridgeError('invalid_request', `FHIR base URL "${trimmed}" is not http(s)`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new BridgeError('invalid_request', `FHIR base URL "${trimmed}" has a query or fragment`);
  }
  return trimmed;
}
