// The redirect back from the authorization server (RFC 6749 §4.1.2 and §4.1.2.1): a code, or an
// error such as `access_denied` (the patient declined: an outcome, not a failure). Checking
// `state` against the stored one is the caller's job; this only reads the parameters. Read here
// rather than by oauth4webapi's validateAuthResponse, which needs the authorization server first:
// the state is what finds the sign-in, and with it the practice and its server.
import { BridgeError } from '../common/errors.ts';

export type CallbackResult =
  | { kind: 'code'; code: string; state: string }
  | {
      kind: 'error';
      /** RFC 6749 §4.1.2.1 error code, e.g. `access_denied`. */
      error: string;
      errorDescription?: string | undefined;
      state?: string | undefined;
    };

export type CallbackQuery = Record<string, unknown> | URLSearchParams;

/** Reads the callback query; throws `invalid_request` when it is neither a code nor an error. */
export function parseCallback(query: CallbackQuery): CallbackResult {
  const get = (name: string): string | undefined => {
    let values: unknown[];
    if (query instanceof URLSearchParams) {
      values = query.getAll(name);
    } else {
      const value = query[name];
      values = value === undefined ? [] : Array.isArray(value) ? value : [value];
    }
    if (values.length === 0) return undefined;
    // RFC 6749 §3.1: parameters MUST NOT be included more than once.
    if (values.length > 1) {
      throw new BridgeError('invalid_request', `callback parameter "${name}" is repeated`);
    }
    const [value] = values;
    if (typeof value !== 'string') {
      throw new BridgeError('invalid_request', `callback parameter "${name}" is not a string`);
    }
    return value === '' ? undefined : value;
  };

  const code = get('code');
  const state = get('state');
  const error = get('error');

  if (error !== undefined) {
    if (code !== undefined) {
      throw new BridgeError('invalid_request', 'callback carries both "code" and "error"');
    }
    return { kind: 'error', error, errorDescription: get('error_description'), state };
  }
  if (code === undefined) {
    throw new BridgeError('invalid_request', 'callback carries neither "code" nor "error"');
  }
  if (state === undefined) {
    // We always send state (CSRF protection, RFC 6749 §10.12); a code without it is not ours.
    throw new BridgeError('invalid_request', 'callback carries a code but no "state"');
  }
  return { kind: 'code', code, state };
}
