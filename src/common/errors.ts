// The one error type of fhirbridge: a stable `code` for programs, a message for people.
// OAuth failures keep their wire fields (`error`, `error_description`) and the HTTP status.
// The HTTP edge (src/api/errors.ts) maps codes to statuses and bodies; nothing else does.

export type ErrorCode =
  | 'invalid_config'
  | 'invalid_request'
  | 'not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'conflict'
  | 'invalid_state'
  | 'access_denied'
  | 'discovery_failed'
  | 'token_rejected'
  | 'invalid_id_token'
  | 'revoked'
  | 'reauthorization_required'
  | 'expired'
  | 'budget_exhausted'
  | 'rate_limited'
  /** Our own limit refused the caller (HTTP 429); `rate_limited` is an upstream's. */
  | 'too_many_requests'
  | 'upstream_error'
  | 'scope_denied'
  | 'host_not_allowed'
  | 'key_error'
  | 'internal';

export interface OAuthErrorFields {
  /** RFC 6749 §5.2 `error` as the server sent it. */
  error: string;
  error_description?: string;
}

export interface BridgeErrorOptions {
  /** The upstream or suggested HTTP status. */
  status?: number;
  oauth?: OAuthErrorFields;
  /** Extra, non-secret facts for programs (never tokens, keys or secrets). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class BridgeError extends Error {
  override readonly name = 'BridgeError';
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly oauth: OAuthErrorFields | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: BridgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.oauth = options.oauth;
    this.details = options.details;
  }
}

export function isBridgeError(value: unknown, code?: ErrorCode): value is BridgeError {
  return value instanceof BridgeError && (code === undefined || value.code === code);
}
