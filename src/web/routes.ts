// The patient pages: pick a practice and connect, see the outcome, disconnect.
// Plain forms, no script: the EHR's sign-in is a full-page redirect anyway.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { browserSecret, ensureBrowserSecret } from '../api/browser.ts';
import type { ErrorAnswer } from '../api/errors.ts';
import { BridgeError } from '../common/errors.ts';
import { sha256Hex } from '../common/hash.ts';
import type { Config } from '../config/schema.ts';
import type { PracticeRegistry } from '../practices/registry.ts';
import type { Vault } from '../vault/index.ts';
import { html } from './html.ts';
import { page } from './layout.ts';
import { type SignInGuard, WEB_USER_PREFIX } from './sign-in-guard.ts';

export interface WebDeps {
  vault: Vault;
  practices: PracticeRegistry;
  config: Config;
  secureCookies: boolean;
  /** Rate limits and caps of the sign-ins these pages start. */
  signIns: SignInGuard;
  /** The patient's display name through the connection (a live FHIR read). */
  readPatientName(connectionId: string): Promise<string | undefined>;
  /** Practices matching what the patient typed (name or city), best first. */
  searchPractices(query: string, limit: number): Promise<PracticeChoice[]>;
}

export interface PracticeChoice {
  id: string;
  name: string;
  city: string | null;
  state: string | null;
}

const SEARCH_RESULTS = 10;

const doneQuery = z.object({
  connection: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/),
  outcome: z.enum(['connected', 'declined', 'error']),
});

/** The anonymous user reference of a browser on the patient pages. */
const webUserRef = (secret: string) => `${WEB_USER_PREFIX}${sha256Hex(secret).slice(0, 32)}`;

/** No framing (clickjacking), no scripts, no referrer carrying a connection id to other sites. */
export function withPageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    )
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'same-origin');
}

/**
 * The patient forms only accept posts from our own pages. SameSite=Lax keeps the cookie off a
 * cross-site post, but /connect would then mint a new cookie and start a sign-in nobody asked
 * for (login CSRF), so the browser's own word on where the form came from is checked.
 */
function assertSameOrigin(request: FastifyRequest, publicUrl: string): void {
  const site = request.headers['sec-fetch-site'];
  const origin = request.headers.origin;
  const crossSite =
    (site !== undefined && site !== 'same-origin' && site !== 'none') ||
    (origin !== undefined && origin !== new URL(publicUrl).origin);
  if (crossSite)
    throw new BridgeError(
      'forbidden',
      'this form can only be sent from this site: start again from its page',
    );
}

export function registerWebRoutes(app: FastifyInstance, deps: WebDeps): void {
  const { vault, practices } = deps;
  app.addHook('preHandler', async (request) => {
    if (request.method === 'POST' && request.url.startsWith('/connect'))
      assertSameOrigin(request, deps.config.publicUrl);
  });

  const send = (reply: FastifyReply, title: string, body: ReturnType<typeof html>, status = 200) =>
    withPageHeaders(reply)
      .code(status)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(page(title, body));

  app.get('/', (_request, reply) => reply.redirect('/connect', 302));

  // Without a query: the configured practices. With one: a search of the whole directory (it
  // may hold 17,000 practices, too many for a list).
  app.get('/connect', async (request, reply) => {
    const raw = (request.query as Record<string, unknown>).q;
    const q = typeof raw === 'string' ? raw.trim().slice(0, 100) : '';
    const choices: PracticeChoice[] = q
      ? await deps.searchPractices(q, SEARCH_RESULTS)
      : deps.config.practices.map((p) => ({ id: p.id, name: p.name, city: null, state: null }));
    const where = (p: PracticeChoice) => [p.city, p.state].filter(Boolean).join(', ');
    return send(
      reply,
      'Connect your health record',
      html`<h1>Connect your health record</h1>
<p>Find your doctor's practice. You will sign in at the practice's patient portal (healow) and choose what to share.</p>
<form method="get" action="/connect" class="search">
<label for="q">Practice name or city</label>
<input id="q" name="q" type="search" value="${q}" placeholder="e.g. Riverside or Columbus" autocomplete="off">
<button type="submit" class="secondary-action">Search</button>
</form>
${
  choices.length === 0
    ? html`<p class="empty">No practice matches “${q}”. Check the spelling, or try the city.</p>`
    : html`<form method="post" action="/connect"><ul class="choices">${choices.map(
        (
          p,
          i,
        ) => html`<li><label><input type="radio" name="practice" value="${p.id}"${i === 0 ? html` checked` : ''}>
<span class="name">${p.name}</span>${where(p) ? html`<span class="where">${where(p)}</span>` : ''}</label></li>`,
      )}</ul><button type="submit">Connect</button></form>`
}`,
    );
  });

  app.post('/connect', async (request: FastifyRequest, reply) => {
    deps.signIns.admitRequest('connect', request, reply);
    const practice = (request.body as Record<string, unknown> | undefined)?.practice;
    if (typeof practice !== 'string' || practice === '')
      throw new BridgeError('invalid_request', 'choose a practice');
    await deps.signIns.admitNewSignIn(reply);
    const secret = ensureBrowserSecret(request, reply, deps.secureCookies);
    const { launchUrl } = await vault.start({ practice, userRef: webUserRef(secret) });
    return reply.redirect(launchUrl, 303);
  });

  app.get('/connect/done', async (request, reply) => {
    const parsed = doneQuery.safeParse(request.query);
    const secret = browserSecret(request);
    const connection = parsed.success
      ? await vault.get(parsed.data.connection).catch(() => undefined)
      : undefined;
    if (!parsed.success || !connection) {
      return send(
        reply,
        'Not found',
        html`<h1>Nothing to show</h1><p>This sign-in is unknown.</p><a class="button" href="/connect">Start again</a>`,
        404,
      );
    }
    // Only the browser that connected from these pages sees the details. A connection the app
    // started through the API ends here too (its default returnTo): say how it went, no more.
    if (!secret || connection.userRef !== webUserRef(secret)) {
      const outcome = parsed.data.outcome;
      const [status, title, text] =
        outcome === 'connected' && connection.state === 'active'
          ? [
              'ok',
              'Connected',
              'Your records are now available to the app. You can close this window and return to it.',
            ]
          : outcome === 'declined'
            ? [
                'warn',
                'Not shared',
                'Nothing was shared. You can close this window and return to the app.',
              ]
            : [
                'bad',
                'Not connected',
                'The sign-in did not complete. Return to the app to try again.',
              ];
      return send(
        reply,
        title,
        html`<span class="status ${status}">${title}</span><h1>${title}</h1><p>${text}</p>`,
      );
    }
    const practice = await practices.byBase(connection.practiceBase);
    const practiceName = practice?.name ?? connection.practiceBase;
    if (parsed.data.outcome === 'declined') {
      return send(
        reply,
        'Not shared',
        html`<span class="status warn">Not shared</span><h1>You chose not to share</h1>
<p>Nothing was shared from ${practiceName}. You can connect again at any time.</p><a class="button" href="/connect">Try again</a>`,
      );
    }
    if (parsed.data.outcome === 'error' || connection.state !== 'active') {
      return send(
        reply,
        'Not connected',
        html`<span class="status bad">Not connected</span><h1>Something went wrong</h1>
<p>${practiceName} did not complete the sign-in${connection.stateReason ? html`: ${connection.stateReason}` : ''}.</p><a class="button" href="/connect">Try again</a>`,
      );
    }
    const name = await deps.readPatientName(connection.id).catch((error) => {
      request.log.warn({ err: error, connectionId: connection.id }, 'could not read the patient');
      return undefined;
    });
    return send(
      reply,
      'Connected',
      html`<span class="status ok">Connected</span><h1>${name ? `Welcome, ${name}` : 'You are connected'}</h1>
<p>Your records at ${practiceName} are now available to the app.</p>
<dl><dt>Practice</dt><dd>${practiceName}</dd><dt>Patient id</dt><dd data-testid="patient-id">${connection.patientId}</dd>
<dt>Shared</dt><dd>${connection.grantedScopes.filter((s) => s.startsWith('patient/')).length} kinds of records</dd></dl>
<form method="post" action="/connect/disconnect"><input type="hidden" name="connection" value="${connection.id}">
<button class="secondary" type="submit">Disconnect</button></form>`,
    );
  });

  app.post('/connect/disconnect', async (request, reply) => {
    const id = (request.body as Record<string, unknown> | undefined)?.connection;
    const secret = browserSecret(request);
    const connection =
      typeof id === 'string' ? await vault.get(id).catch(() => undefined) : undefined;
    if (!connection || !secret || connection.userRef !== webUserRef(secret)) {
      throw new BridgeError('not_found', 'no such connection for this browser');
    }
    await vault.disconnect(connection.id);
    return send(
      reply,
      'Disconnected',
      html`<span class="status warn">Disconnected</span><h1>Disconnected</h1>
<p>The app no longer has access to your records. Its copy of your sign-in was deleted.</p><a class="button" href="/connect">Connect again</a>`,
    );
  });
}

/** The page a patient sees when a browser route fails (a used or foreign sign-in, a bad form). */
export function errorPage(answer: ErrorAnswer): string {
  if (answer.code === 'too_many_requests') {
    return page(
      'Please wait',
      html`<span class="status warn">Busy</span><h1>Please wait a moment</h1><p>${answer.message}</p><p>Nothing is wrong with your records or your account.</p><a class="button" href="/connect">Try again</a>`,
    );
  }
  return page(
    'Sign-in problem',
    html`<span class="status bad">Problem</span><h1>We could not finish</h1><p>${answer.message}</p><a class="button" href="/connect">Start again</a>`,
  );
}
