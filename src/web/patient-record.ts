// The patient's own view of their synced record, opened by a signed link the app asks for
// (`POST /api/connections/{id}/record-link`): read only, no sign-in, nothing but this one
// connection's record and documents. A link that expired or was changed gets a page that says
// so in a patient's words.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { type LinkCheck, recordLinksOf } from '../access/record-link.ts';
import type { Clock } from '../common/clock.ts';
import type { Sealer } from '../common/seal.ts';
import type { Config } from '../config/schema.ts';
import type { PracticeRegistry } from '../practices/registry.ts';
import type { Store } from '../store/port.ts';
import { readRecord } from './admin/record.ts';
import { recordPage } from './admin/record-page.ts';
import { BINARY_ID, readDocument, sendDocument } from './documents.ts';
import { type Html, html } from './html.ts';
import { PAGE_CSP, page } from './layout.ts';

export interface PatientRecordDeps {
  config: Pick<Config, 'publicUrl'>;
  store: Pick<Store, 'connections' | 'resources'>;
  clock: Clock;
  sealer: Pick<Sealer, 'deriveKey'>;
  practices: Pick<PracticeRegistry, 'byBase'>;
}

/** Headers of every page under /record: the link is in the address, so no referrer leaves. */
function withRecordHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', PAGE_CSP)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .header('x-robots-tag', 'noindex');
}

function linkProblem(reason: Exclude<LinkCheck, { ok: true }>['reason'] | 'gone'): {
  status: number;
  body: Html;
} {
  if (reason === 'expired') {
    return {
      status: 410,
      body: html`<span class="status warn">Link expired</span><h1>This link has expired</h1>
<p>For your privacy, a link to your record works for a short time only. Nothing is wrong with your records.</p>
<p>Go back to the app and open your record from there again to get a new link.</p>`,
    };
  }
  if (reason === 'gone') {
    return {
      status: 404,
      body: html`<span class="status warn">Not available</span><h1>This record is no longer here</h1>
<p>The app's connection to your practice has ended, so your record is no longer kept here.</p>
<p>Go back to the app to connect again.</p>`,
    };
  }
  return {
    status: 404,
    body: html`<span class="status bad">Link not working</span><h1>This link doesn't work</h1>
<p>It may have been copied only in part, or changed. Nothing is wrong with your records.</p>
<p>Go back to the app and open your record from there again.</p>`,
  };
}

/** The wide page shell of the record (the patient pages' card is too narrow for charts). */
function recordShell(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · fhirbridge</title><link rel="stylesheet" href="/assets/fhirbridge.css"><link rel="stylesheet" href="/assets/uplot.css"></head>
<body class="admin patient-record"><header><span class="brand">fhir<span>bridge</span></span></header>
<main>${body}</main>
<footer>Your records travel from your doctor's office to this app through fhirbridge. This page is read only.</footer>
<script src="/assets/uplot.js" defer></script><script src="/assets/record.js" defer></script></body></html>`
    .value;
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 16);

/** `GET /record/{link}` and its documents: the patient's read-only record, by a signed link. */
export function registerPatientRecordPages(app: FastifyInstance, deps: PatientRecordDeps): void {
  const links = recordLinksOf(deps.sealer);
  const { store, clock } = deps;

  /** The connection a link opens, or the page that says why it does not. */
  const open = async (token: string, reply: FastifyReply) => {
    const check = links.check(token, clock.now());
    const problem = (reason: Parameters<typeof linkProblem>[0]) => {
      const { status, body } = linkProblem(reason);
      withRecordHeaders(reply)
        .code(status)
        .type('text/html; charset=utf-8')
        .send(page('Your record', body));
      return undefined;
    };
    if (!check.ok) return problem(check.reason);
    const connection = await store.connections.get(check.connectionId);
    // Disconnecting forgets the record: a link made before then opens nothing.
    if (!connection?.patientId || connection.state === 'revoked') return problem('gone');
    return { connection, expiresAt: check.expiresAt };
  };

  const tokenParams = z.object({ token: z.string().max(200) });
  app.get('/record/:token', async (request, reply) => {
    const { token } = tokenParams.parse(request.params);
    const opened = await open(token, reply);
    if (!opened) return reply;
    const { connection, expiresAt } = opened;
    const resources: Record<string, unknown>[] = [];
    for await (const r of store.resources.iterate(connection.id)) {
      if (r.deletedAt === null) resources.push(JSON.parse(r.json) as Record<string, unknown>);
    }
    const practice = await deps.practices.byBase(connection.practiceBase);
    const intro = html`<p class="record-intro">Your record from <strong>${practice?.name ?? 'your practice'}</strong>, as shared with the app. Read only; this link works until ${time(expiresAt)} UTC.</p>`;
    const body = recordPage(readRecord(resources), {
      documentHref: (binaryId) => `/record/${token}/documents/${binaryId}`,
    });
    return withRecordHeaders(reply)
      .type('text/html; charset=utf-8')
      .send(recordShell('Your record', html`${intro}${body}`));
  });

  const documentParams = z.object({
    token: z.string().max(200),
    binaryId: z.string().regex(BINARY_ID),
  });
  app.get('/record/:token/documents/:binaryId', async (request, reply) => {
    const params = documentParams.safeParse(request.params);
    if (!params.success) return reply.code(404).send();
    const opened = await open(params.data.token, reply);
    if (!opened) return reply;
    const document = await readDocument(store, opened.connection.id, params.data.binaryId);
    if (!document) {
      return withRecordHeaders(reply)
        .code(404)
        .type('text/html; charset=utf-8')
        .send(
          page(
            'Document',
            html`<h1>This document isn't here</h1><p>It has not been copied from your practice yet. Go back to your record.</p>`,
          ),
        );
    }
    return sendDocument(reply, document);
  });
}
