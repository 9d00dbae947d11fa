// How the FHIR server answers: the wire style of the server profile (healow: pretty-printed
// `application/json+fhir`; generic: compact `application/fhir+json`), OperationOutcome errors with
// HAPI's HTML narrative, and one error type that every route throws and one place that sends it.

import type { FastifyReply } from 'fastify';
import { escapeXml } from '../data/chart.ts';
import { serializeFhir } from './serialize.ts';

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

/** How bodies go on the wire. */
export interface WireStyle {
  pretty: boolean;
  contentType: string;
}

/**
 * HAPI FHIR 5's generated narrative of an OperationOutcome: a table of the issue (severity in
 * capitals, the diagnostics in a `pre`), with HAPI's template whitespace.
 */
export function outcomeNarrative(diagnostics: string): { status: 'generated'; div: string } {
  const div =
    '<div xmlns="http://www.w3.org/1999/xhtml"><h1>Operation Outcome</h1>' +
    '<table border="0"><tr><td style="font-weight: bold;">ERROR</td><td>[]</td>' +
    `<td><pre>${escapeXml(diagnostics)}</pre></td>\n\t\t\t\t\t\n\t\t\t\t\n\t\t\t</tr>\n\t\t</table>\n\t</div>`;
  return { status: 'generated', div };
}

/** An OperationOutcome as HAPI writes it: the narrative, then the one issue. */
export function operationOutcome(issue: IssueCode, diagnostics: string) {
  return {
    resourceType: 'OperationOutcome',
    text: outcomeNarrative(diagnostics),
    issue: [{ severity: 'error', code: issue, diagnostics }],
  };
}

/** Sends a FHIR JSON body, serialized here so that fastify never re-encodes it. */
export function sendFhir(
  reply: FastifyReply,
  style: WireStyle,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .type(style.contentType)
    .send(serializeFhir(body, style.pretty));
}

export function sendFhirError(
  reply: FastifyReply,
  style: WireStyle,
  error: FhirError,
): FastifyReply {
  return sendFhir(
    reply,
    style,
    error.status,
    operationOutcome(error.issue, error.message),
    error.headers,
  );
}
