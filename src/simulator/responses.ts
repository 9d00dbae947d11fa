// Error bodies in healow's shape for each kind of route: FHIR routes answer with an
// OperationOutcome, the token endpoint with RFC 6749 JSON, the browser-facing authorize pages
// with HTML. Used by the error handler, the 404 handler, the rate limit and the faults.

import type { FastifyReply } from 'fastify';
import { renderErrorPage } from './auth/pages.ts';
import type { SimQuirks } from './context.ts';
import { outcomeNarrative } from './fhir/outcome.ts';

export type RouteKind = 'fhir' | 'token' | 'authorize' | 'json';

/** Which error shape a path gets. */
export function routeKind(url: string): RouteKind {
  const path = url.split('?')[0] ?? '';
  if (path.startsWith('/fhir/')) return 'fhir';
  if (path === '/oauth/oauth2/token') return 'token';
  if (path.startsWith('/oauth/oauth2/') && path !== '/oauth/oauth2/jwks') return 'authorize';
  return 'json';
}

/** The practice code of a `/fhir/r4/{code}/...` path. */
export function practiceCodeOf(url: string): string | undefined {
  const match = /^\/fhir\/r4\/([^/?#]+)/.exec(url);
  if (match?.[1] === undefined) return undefined;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

/** FHIR R4 OperationOutcome (plain types: the installed @types/fhir lacks `fhir/r4`). */
export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: Array<{
    severity: 'fatal' | 'error' | 'warning' | 'information';
    code: IssueCode;
    diagnostics?: string;
  }>;
}

/** FHIR issue-type codes used here. */
export type IssueCode =
  | 'invalid'
  | 'login'
  | 'forbidden'
  | 'not-found'
  | 'not-supported'
  | 'throttled'
  | 'exception'
  | 'transient';

/** With HAPI's generated narrative, as every OperationOutcome of healow's server carries one. */
export function operationOutcome(
  code: IssueCode,
  diagnostics: string,
): OperationOutcome & { text: { status: 'generated'; div: string } } {
  return {
    resourceType: 'OperationOutcome',
    text: outcomeNarrative(diagnostics),
    issue: [{ severity: 'error', code, diagnostics }],
  };
}

export function fhirContentType(quirks: SimQuirks): string {
  return quirks.legacyContentType
    ? 'application/json+fhir;charset=UTF-8'
    : 'application/fhir+json;charset=utf-8';
}

const OAUTH_ERROR_BY_STATUS: Record<number, string> = {
  400: 'invalid_request',
  401: 'invalid_client',
  403: 'access_denied',
  404: 'invalid_request',
  429: 'too_many_requests',
  503: 'temporarily_unavailable',
};

const ISSUE_BY_STATUS: Record<number, IssueCode> = {
  400: 'invalid',
  401: 'login',
  403: 'forbidden',
  404: 'not-found',
  405: 'not-supported',
  429: 'throttled',
  500: 'exception',
  503: 'transient',
};

/** Sends an error in the shape the route's clients expect. */
export function sendError(
  reply: FastifyReply,
  kind: RouteKind,
  status: number,
  message: string,
  quirks: SimQuirks,
): FastifyReply {
  reply.code(status);
  switch (kind) {
    case 'fhir':
      return reply
        .type(fhirContentType(quirks))
        .send(operationOutcome(ISSUE_BY_STATUS[status] ?? 'exception', message));
    case 'token':
      return reply
        .header('cache-control', 'no-store')
        .type('application/json;charset=UTF-8')
        .send({
          error: OAUTH_ERROR_BY_STATUS[status] ?? 'server_error',
          error_description: message,
        });
    case 'authorize':
      return reply.type('text/html;charset=UTF-8').send(renderErrorPage('Error', message));
    case 'json':
      return reply.type('application/json;charset=UTF-8').send({ error: status, message });
  }
}
