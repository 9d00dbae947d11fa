// The one place where failures become HTTP answers: BridgeError codes → statuses and bodies.
// API routes answer `{ error: { code, message } }`; FHIR routes answer an OperationOutcome.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OperationOutcome } from 'fhir/r4';
import { BridgeError, type ErrorCode } from '../common/errors.ts';

const STATUS: Record<ErrorCode, number> = {
  invalid_config: 500,
  invalid_request: 400,
  not_found: 404,
  unauthorized: 401,
  forbidden: 403,
  conflict: 409,
  invalid_state: 400,
  access_denied: 403,
  discovery_failed: 502,
  token_rejected: 502,
  invalid_id_token: 502,
  revoked: 409,
  reauthorization_required: 409,
  expired: 409,
  budget_exhausted: 503,
  rate_limited: 503,
  too_many_requests: 429,
  upstream_error: 502,
  scope_denied: 403,
  host_not_allowed: 502,
  key_error: 500,
  internal: 500,
};

/** Codes whose message is safe and useful to show to the caller. Others say "internal error". */
const INTERNAL: ReadonlySet<ErrorCode> = new Set(['internal', 'key_error', 'invalid_config']);

export interface ErrorAnswer {
  status: number;
  code: ErrorCode;
  message: string;
}

export function toErrorAnswer(error: unknown): ErrorAnswer {
  if (error instanceof BridgeError) {
    const internal = INTERNAL.has(error.code);
    return {
      status: STATUS[error.code],
      code: error.code,
      message: internal ? 'internal error' : error.message,
    };
  }
  const fe = error as Partial<FastifyError>;
  if (
    fe.validation ||
    fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ||
    (fe.statusCode && fe.statusCode < 500)
  ) {
    const status = fe.statusCode ?? 400;
    const code: ErrorCode =
      status === 404 ? 'not_found' : status === 401 ? 'unauthorized' : 'invalid_request';
    return { status, code, message: fe.message ?? 'bad request' };
  }
  return { status: 500, code: 'internal', message: 'internal error' };
}

export function operationOutcome(answer: ErrorAnswer): OperationOutcome {
  const code =
    answer.status === 404
      ? 'not-found'
      : answer.status === 403
        ? 'forbidden'
        : answer.status < 500
          ? 'invalid'
          : 'exception';
  return {
    resourceType: 'OperationOutcome',
    issue: [
      { severity: 'error', code, diagnostics: answer.message, details: { text: answer.code } },
    ],
  };
}

export const isFhirRoute = (url: string) =>
  /^\/api\/connections\/[^/]+\/(fhir|resources)\//.test(url);
/** Routes a patient's browser lands on: they answer with a page, not JSON. */
const isBrowserRoute = (url: string) => /^\/(launch|callback|connect)(\/|\?|$)/.test(url);

export interface ErrorHandlingOptions {
  /** Renders the page shown to a browser for a failed browser route. */
  errorPage?: (answer: ErrorAnswer) => string;
}

export function installErrorHandling(
  app: FastifyInstance,
  options: ErrorHandlingOptions = {},
): void {
  const send = (request: FastifyRequest, reply: FastifyReply, answer: ErrorAnswer) => {
    if (isFhirRoute(request.url)) {
      return reply.code(answer.status).type('application/fhir+json').send(operationOutcome(answer));
    }
    if (options.errorPage && isBrowserRoute(request.url)) {
      return reply
        .header(
          'content-security-policy',
          "default-src 'none'; style-src 'self'; frame-ancestors 'none'",
        )
        .code(answer.status)
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(options.errorPage(answer));
    }
    return reply
      .code(answer.status)
      .send({ error: { code: answer.code, message: answer.message } });
  };
  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorAnswer(error);
    if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
    return send(request, reply, answer);
  });
  app.setNotFoundHandler((request, reply) =>
    send(request, reply, {
      status: 404,
      code: 'not_found',
      message: `no route for ${request.method} ${request.url.split('?')[0]}`,
    }),
  );
}
