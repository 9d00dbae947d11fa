// `returnTo` must be on the operator's allow-list: the callback redirects there, and an open
// redirect would let anyone bounce a patient's browser through us to any site.
import { BridgeError } from '../common/errors.ts';

export function checkReturnTo(returnTo: string, allowList: readonly string[]): string {
  let url: URL;
  try {
    url = new URL(returnTo);
  } catch {
    throw new BridgeError('invalid_request', 'returnTo must be an absolute URL');
  }
  const allowed = allowList.some((entry) => {
    const allow = new URL(entry);
    const prefix = allow.pathname.endsWith('/') ? allow.pathname : `${allow.pathname}/`;
    return (
      url.origin === allow.origin &&
      (allow.pathname === '/' || url.pathname === allow.pathname || url.pathname.startsWith(prefix))
    );
  });
  if (!allowed || url.username || url.password) {
    throw new BridgeError(
      'invalid_request',
      'returnTo is not on the allow-list (returnToAllowList)',
    );
  }
  return url.href;
}
