// How the FHIR server answers: healow's content type (a switch), OperationOutcome errors, and
// one error type that every route throws and one place that turns it into a response.

import type { FastifyReply } from 'fastify';
import type { SimQuirks } from '../context.ts';

/** FHIR R4 IssueType codes used here. */
export type IssueCode =
  | 'invalid'
  | 'login'
  | 'forbidden'
  | 'not-found'
  | 'deleted'
  | 'not-supported'
  | 'processing'
  | 'exception';

/** A refused FHIR request: its status, OperationOutcome issue code, diagnostics and headers. */
export class FhirError extends Error {
  constructor(
    readonly status: number,
    readonly issue: IssueCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'FhirError';
  }
}

export function operationOutcome(issue: IssueCode, diagnostics: string) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: issue, diagnostics }],
  };
}

/** healow: `application/json+fhir;charset=UTF-8`; the standard type when the switch is off. */
export function fhirContentType(quirks: SimQuirks): string {
  return quirks.legacyContentType
    ? 'application/json+fhir;charset=UTF-8'
    : 'application/fhir+json;charset=utf-8';
}

/** Sends a FHIR JSON body, serialized here so that fastify never re-encodes it. */
export function sendFhir(
  reply: FastifyReply,
  quirks: SimQuirks,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .type(fhirContentType(quirks))
    .send(JSON.stringify(body));
}

export function sendFhirError(
  reply: FastifyReply,
  quirks: SimQuirks,
  error: FhirError,
): FastifyReply {
  return sendFhir(
    reply,
    quirks,
    error.status,
    operationOutcome(error.issue, error.message),
    error.headers,
  );
}
