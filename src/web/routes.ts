// The patient pages: find a practice and connect, see the outcome, disconnect. Plain forms that
// work without JavaScript (the EHR's sign-in is a full-page redirect anyway); a small script
// adds search as you type. Every failure speaks to the patient; its technical cause goes to
// the operator's log, under a reference the page shows.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { sha256Hex } from '../common/hash.ts';
import type { Logger } from '../common/logger.ts';
import { randomId } from '../common/random.ts';
import type { Config } from '../config/schema.ts';
import { browserSecret, ensureBrowserSecret } from '../http/browser.ts';
import type { ErrorAnswer } from '../http/errors.ts';
import type { PracticeRegistry } from '../practices/registry.ts';
import type { ConnectionRecord, EventRepository } from '../store/port.ts';
import type { Vault } from '../vault/index.ts';
import { registerAssetRoutes } from './assets.ts';
import { type Html, html } from './html.ts';
import { PAGE_CSP, type PageOptions, page } from './layout.ts';
import { listInWords, sharedRecords } from './records.ts';
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
  /** Practices matching what the patient typed (name, city or code), best first. */
  searchPractices(query: string, limit: number): Promise<PracticeChoice[]>;
}

export interface PracticeChoice {
  id: string;
  name: string;
  city: string | null;
  state: string | null;
  /** false: its last health check failed, so it is shown but cannot be chosen. */
  available?: boolean;
}

/** Results per "show more" step, and the most one page lists. */
const PAGE_SIZE = 10;
const MAX_SHOWN = 100;

const searchQuery = z.object({
  q: z.string().optional(),
  show: z.coerce.number().int().min(PAGE_SIZE).max(MAX_SHOWN).optional().catch(undefined),
});

const doneQuery = z.object({
  connection: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/),
  outcome: z.enum(['connected', 'declined', 'error']),
});

/** The anonymous user reference of a browser on the patient pages. */
const webUserRef = (secret: string) => `${WEB_USER_PREFIX}${sha256Hex(secret).slice(0, 32)}`;

/** No framing (clickjacking), scripts and styles from this origin only, no referrer carrying a connection id to other sites. */
export function withPageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', PAGE_CSP)
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

const where = (p: PracticeChoice) => [p.city, p.state].filter(Boolean).join(', ');

/** The practice list: nothing chosen until the patient chooses; a failing practice marked and not choosable. */
function choiceList(choices: PracticeChoice[]): Html {
  return html`<ul class="choices">${choices.map((p) => {
    const available = p.available !== false;
    return html`<li${available ? '' : html` class="unavailable"`}><label><input type="radio" name="practice" value="${p.id}" required${available ? '' : html` disabled`}>
<span class="text"><span class="name">${p.name}</span>${where(p) ? html`<span class="where">${where(p)}</span>` : ''}${
      available ? '' : html`<span class="note">Not connecting right now: try again later</span>`
    }</span></label></li>`;
  })}</ul>`;
}

/** A form that starts the sign-in at one practice again (the retry of every failure page). */
const retryForm = (practiceId: string, label = 'Try again') =>
  html`<form method="post" action="/connect"><input type="hidden" name="practice" value="${practiceId}"><button type="submit">${label}</button></form>`;

const chooseAnother = html`<a class="button secondary-action" href="/connect">Choose another practice</a>`;

export function registerWebRoutes(app: FastifyInstance, deps: WebDeps): void {
  const { vault, practices } = deps;
  registerAssetRoutes(app);
  app.addHook('preHandler', async (request) => {
    if (request.method === 'POST' && request.url.startsWith('/connect'))
      assertSameOrigin(request, deps.config.publicUrl);
  });

  const send = (
    reply: FastifyReply,
    title: string,
    body: Html,
    status = 200,
    options: PageOptions = {},
  ) =>
    withPageHeaders(reply)
      .code(status)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(page(title, body, options));

  /** Without a query: the configured practices. With one: a search of the whole directory. */
  async function results(q: string, show: number): Promise<Html> {
    if (q === '') {
      const configured = deps.config.practices.map((p) => ({
        id: p.id,
        name: p.name,
        city: null,
        state: null,
      }));
      return html`<form method="post" action="/connect" class="pick"><h2>Practices</h2>${choiceList(configured)}<button type="submit">Connect</button></form>`;
    }
    // One more than shown tells whether there are more.
    const found = await deps.searchPractices(q, show + 1);
    if (found.length === 0) {
      return html`<p class="empty" role="status">No practice matches “${q}”. Check the spelling, or try the practice's city or its doctor's name.</p>`;
    }
    const more =
      found.length > show && show < MAX_SHOWN
        ? html`<a class="more" href="/connect?q=${encodeURIComponent(q)}&amp;show=${show + PAGE_SIZE}">Show more practices</a>`
        : '';
    return html`<form method="post" action="/connect" class="pick"><input type="hidden" name="q" value="${q}">${choiceList(found.slice(0, show))}${more}<div><button type="submit">Connect</button></div></form>`;
  }

  function searchPage(q: string, list: Html, notice?: string): Html {
    return html`<h1>Connect your health record</h1>
<p>Find your doctor's practice. You will sign in at the practice's patient portal (healow) and choose what to share.</p>
<form method="get" action="/connect" class="search" id="search" role="search">
<label for="q">Practice name, city or doctor</label>
<input id="q" name="q" type="search" value="${q}" placeholder="e.g. Riverside Family Medicine" autocomplete="off" aria-controls="results">
<button type="submit" class="secondary-action">Search</button>
</form>${notice ? html`<p class="notice" role="alert">${notice}</p>` : ''}
<div id="results" aria-live="polite">${list}</div>`;
  }

  const readSearch = (request: FastifyRequest) => {
    const parsed = searchQuery.safeParse(request.query);
    const q = parsed.success ? (parsed.data.q ?? '').trim().slice(0, 100) : '';
    return { q, show: (parsed.success ? parsed.data.show : undefined) ?? PAGE_SIZE };
  };

  app.get('/', (_request, reply) => reply.redirect('/connect', 302));

  app.get('/connect', async (request, reply) => {
    const { q, show } = readSearch(request);
    return send(reply, 'Connect your health record', searchPage(q, await results(q, show)), 200, {
      scripts: ['connect.js'],
    });
  });

  // The results alone, for search as you type.
  app.get('/connect/results', async (request, reply) => {
    const { q, show } = readSearch(request);
    return withPageHeaders(reply)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send((await results(q, show)).value);
  });

  app.post('/connect', async (request: FastifyRequest, reply) => {
    deps.signIns.admitRequest('connect', request, reply);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const practice = body.practice;
    if (typeof practice !== 'string' || practice === '') {
      const q = typeof body.q === 'string' ? body.q.trim().slice(0, 100) : '';
      return send(
        reply,
        'Choose your practice',
        searchPage(q, await results(q, PAGE_SIZE), 'Choose your practice from the list first.'),
        400,
        { scripts: ['connect.js'] },
      );
    }
    await deps.signIns.admitNewSignIn(reply);
    const secret = ensureBrowserSecret(request, reply, deps.secureCookies);
    try {
      const { launchUrl } = await vault.start({ practice, userRef: webUserRef(secret) });
      return reply.redirect(launchUrl, 303);
    } catch (error) {
      if (error instanceof BridgeError && error.code === 'too_many_requests') throw error;
      // The cause is the operator's (discovery, configuration, budget): logged, not shown.
      request.log.warn({ err: error, practice }, 'a sign-in could not start');
      const known = await practices.get(practice).catch(() => undefined);
      return send(reply, 'Not available', startFailure(error, practice, known?.name), 503);
    }
  });

  // Where fhirbridge-connect.js may be listening: the origins apps may return to.
  const appOrigins = [...new Set(deps.config.returnToAllowList.map((u) => new URL(u).origin))];
  const outcomeMarker = (connectionId: string, outcome: string) =>
    html`<div id="fhirbridge-outcome" hidden data-connection="${connectionId}" data-outcome="${outcome}" data-origins="${JSON.stringify(appOrigins)}"></div>`;

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
        html`<h1>Nothing to show</h1><p>We don't know this sign-in: the link may be incomplete. You can start again from the beginning.</p><a class="button" href="/connect">Start again</a>`,
        404,
      );
    }
    const outcome = parsed.data.outcome;
    // Only the browser that connected from these pages sees the details. A connection the app
    // started through the API ends here too (its default returnTo): say how it went, no more.
    if (!secret || connection.userRef !== webUserRef(secret)) {
      const [title, body] = appOutcome(outcome, connection);
      return send(reply, title, html`${body}${outcomeMarker(connection.id, outcome)}`, 200, {
        scripts: ['done.js'],
      });
    }
    const practice = await practices.byBase(connection.practiceBase);
    const practiceName = practice?.name ?? 'your practice';
    const retry = practice ? retryForm(practice.id) : '';
    if (outcome === 'declined') {
      return send(
        reply,
        'Not shared',
        html`<span class="status warn">Not shared</span><h1>You chose not to share</h1>
<p>Nothing was shared from ${practiceName}. You can connect again at any time.</p><div class="actions">${retry}${chooseAnother}</div>`,
      );
    }
    if (connection.state === 'revoked' || connection.state === 'expired') {
      return send(reply, 'Disconnected', ended(practiceName, connection));
    }
    if (outcome === 'error' || connection.state !== 'active') {
      request.log.info(
        { connectionId: connection.id, state: connection.state, reason: connection.stateReason },
        'a sign-in ended without a connection',
      );
      return send(
        reply,
        'Not connected',
        html`<span class="status bad">Not connected</span><h1>We couldn't finish connecting to ${practiceName}</h1>
<p>The practice's sign-in did not complete, so nothing was shared. This is often temporary.</p>
<p>Try again; if it keeps happening, choose another practice or try later.</p><div class="actions">${retry}${chooseAnother}</div>`,
      );
    }
    const name = await deps.readPatientName(connection.id).catch((error) => {
      request.log.warn({ err: error, connectionId: connection.id }, 'could not read the patient');
      return undefined;
    });
    return send(reply, 'Connected', connected(name, practiceName, connection));
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

/** The done page: whose record, which practice, what was shared, in words. */
function connected(name: string | undefined, practiceName: string, c: ConnectionRecord): Html {
  const shared = sharedRecords(c.grantedScopes);
  const what = shared.everything
    ? html`<p>Everything in your record at ${practiceName}${
        shared.kinds.length > 0 ? html`, including ${listInWords(shared.kinds)}` : ''
      }.</p>`
    : shared.kinds.length > 0
      ? html`<ul class="shared">${shared.kinds.map((k) => html`<li>${k[0]?.toUpperCase()}${k.slice(1)}</li>`)}</ul>`
      : html`<p>Your sign-in only: the practice shared no records.</p>`;
  return html`<span class="status ok">Connected</span><h1>${name ? `Welcome, ${name}` : 'You are connected'}</h1>
<p>${name ? html`${name}'s record` : 'Your record'} at ${practiceName} is now available to the app.</p>
<dl><dt>Record of</dt><dd data-testid="patient-name">${name ?? 'You (the practice did not give a name)'}</dd><dt>Practice</dt><dd>${practiceName}</dd></dl>
<h2>What you shared</h2>${what}
<p>You can stop sharing at any time.</p>
<form method="post" action="/connect/disconnect"><input type="hidden" name="connection" value="${c.id}">
<button class="secondary" type="submit">Disconnect</button></form>`;
}

/** A connection that has since ended: the app disconnected, or the patient's consent ran out. */
function ended(practiceName: string, c: ConnectionRecord): Html {
  const expired = c.state === 'expired';
  return html`<span class="status warn">${expired ? 'Expired' : 'Disconnected'}</span><h1>This connection has ended</h1>
<p>${
    expired
      ? `Your permission to share your records at ${practiceName} has run out.`
      : `The app no longer has access to your records at ${practiceName}.`
  } Nothing more is shared. To share again, connect again.</p><a class="button" href="/connect">Connect again</a>`;
}

/** The outcome shown to a browser that did not start the sign-in here: how it went, no details. */
function appOutcome(
  outcome: 'connected' | 'declined' | 'error',
  c: ConnectionRecord,
): [string, Html] {
  const say = (status: string, title: string, text: string): [string, Html] => [
    title,
    html`<span class="status ${status}">${title}</span><h1>${title}</h1><p>${text}</p>`,
  ];
  if (outcome === 'connected' && c.state === 'active')
    return say(
      'ok',
      'Connected',
      'Your records are now available to the app. You can close this window and return to it.',
    );
  if (c.state === 'revoked' || c.state === 'expired')
    return say(
      'warn',
      'Connection ended',
      'This connection has ended: the app no longer has access. Return to the app to connect again.',
    );
  if (outcome === 'declined')
    return say(
      'warn',
      'Not shared',
      'Nothing was shared. You can close this window and return to the app.',
    );
  return say(
    'bad',
    'Not connected',
    'The sign-in did not complete and nothing was shared. Return to the app to try again.',
  );
}

/** A sign-in that could not start, in a patient's words, with a way on. */
function startFailure(error: unknown, practiceId: string, practiceName?: string): Html {
  const code = error instanceof BridgeError ? error.code : 'internal';
  const name = practiceName ?? 'this practice';
  if (code === 'not_found') {
    return html`<span class="status bad">Not found</span><h1>We don't know that practice</h1>
<p>It may have left the directory. Search for it again, or choose another practice.</p><div class="actions">${chooseAnother}</div>`;
  }
  if (code === 'budget_exhausted' || code === 'rate_limited') {
    return html`<span class="status warn">Busy</span><h1>${name} is busy right now</h1>
<p>Its patient portal is taking too many requests at the moment. Nothing is wrong with your records or your account.</p>
<p>Please try again in a minute.</p><div class="actions">${retryForm(practiceId)}${chooseAnother}</div>`;
  }
  if (code === 'discovery_failed' || code === 'upstream_error' || code === 'host_not_allowed') {
    return html`<span class="status bad">Not available</span><h1>We couldn't reach ${name}</h1>
<p>Its patient portal did not answer us just now. This is usually temporary, and nothing is wrong with your records or your account.</p>
<p>Try again in a few minutes, or choose another practice.</p><div class="actions">${retryForm(practiceId)}${chooseAnother}</div>`;
  }
  return html`<span class="status bad">Problem</span><h1>We couldn't start the sign-in</h1>
<p>Something went wrong on our side, not yours; it has been recorded for the people who run this service.</p>
<p>Please try again later.</p><div class="actions">${retryForm(practiceId)}${chooseAnother}</div>`;
}

/** What a patient is told, per error code, when a browser route fails. */
const PATIENT_WORDS: Partial<Record<ErrorAnswer['code'], [title: string, text: string]>> = {
  invalid_state: [
    'This sign-in link no longer works',
    'Each sign-in link works once, in the browser that opened it, for a few minutes. Start again to get a new one.',
  ],
  forbidden: [
    'Please start from this site',
    'For your safety, this form only works from this site’s own page.',
  ],
  not_found: ['Nothing here', 'This page does not exist. Start again from the beginning.'],
  access_denied: ['Nothing was shared', 'The sign-in was cancelled at your practice.'],
};

/** Letters a patient can read out without confusion (no 0/O, 1/I/L, U). */
const REFERENCE_LETTERS = '23456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A short code such as `K7QX-93MD` that a patient can quote to support. */
export function supportReference(bytes: Buffer = randomBytes(8)): string {
  const letters = [...bytes].map((b) => REFERENCE_LETTERS[b % REFERENCE_LETTERS.length]).join('');
  return `${letters.slice(0, 4)}-${letters.slice(4, 8)}`;
}

export interface ErrorPageDeps {
  logger: Logger;
  events: Pick<EventRepository, 'append'>;
  clock: Clock;
  /** Makes the reference shown to the patient (tests fix it). */
  reference?: () => string;
  /** Events kept per minute for failures anyone can cause without a sign-in (default 30). */
  unanchoredPerMinute?: number;
}

/** Failures a request can cause with no sign-in under way: a made-up state, a foreign form. */
const UNANCHORED = new Set<ErrorAnswer['code']>(['invalid_state', 'forbidden']);

/** Allows `limit` takes per clock minute, then refuses until the next minute. */
function minuteAllowance(clock: Clock, limit: number): { take(): boolean } {
  let minute = -1;
  let taken = 0;
  return {
    take() {
      const now = Math.floor(clock.now() / 60_000);
      if (now !== minute) {
        minute = now;
        taken = 0;
      }
      taken += 1;
      return taken <= limit;
    },
  };
}

/** The event that keeps a patient page's technical detail, keyed by the reference shown. */
export const PAGE_ERROR_EVENT = 'web.page_error';

/**
 * The page a patient sees when a browser route fails (a used or foreign sign-in, a bad form, an
 * EHR answer that does not check out). The page says what happened in a patient's words and a
 * reference code; the technical detail goes to the log and to a `web.page_error` event under
 * that code, so support finds it from what the patient quotes.
 */
export function createErrorPage({
  logger,
  events,
  clock,
  reference = supportReference,
  unanchoredPerMinute = 30,
}: ErrorPageDeps): (answer: ErrorAnswer) => string {
  const unanchored = minuteAllowance(clock, unanchoredPerMinute);
  return (answer) => {
    if (answer.code === 'too_many_requests') {
      return page(
        'Please wait',
        html`<span class="status warn">Busy</span><h1>Please wait a moment</h1><p>${answer.message}</p><p>Nothing is wrong with your records or your account.</p><a class="button" href="/connect">Try again</a>`,
      );
    }
    const code = reference();
    // `error`, not `code`: the logger redacts members named `code` (an authorization code).
    const detail = {
      reference: code,
      error: answer.code,
      status: answer.status,
      detail: answer.message,
    };
    logger.warn(detail, 'a patient page failed');
    // A page that does not exist is no failure worth an event (anyone can ask for one). A state
    // that matches no usable sign-in, or a form from elsewhere, can be made up too: those are
    // kept as events only up to a rate, so made-up requests cannot flood the event log and every
    // webhook endpoint; past it they are in the log alone.
    if (answer.code !== 'not_found' && (!UNANCHORED.has(answer.code) || unanchored.take())) {
      events
        .append({
          id: randomId('evt'),
          type: PAGE_ERROR_EVENT,
          connectionId: null,
          data: detail,
          createdAt: clock.now(),
        })
        .catch((error: unknown) =>
          logger.error({ err: error, reference: code }, 'page error event not saved'),
        );
    }
    const [title, text] = PATIENT_WORDS[answer.code] ?? [
      'We could not finish',
      answer.status >= 500
        ? 'Your practice’s system or ours did not answer as expected, so nothing was shared. This is usually temporary.'
        : 'The sign-in could not be completed, so nothing was shared.',
    ];
    return page(
      'Sign-in problem',
      html`<span class="status bad">Problem</span><h1>${title}</h1><p>${text}</p><a class="button" href="/connect">Start again</a>
<p class="reference">If this keeps happening, contact support and quote reference <strong class="mono" data-reference>${code}</strong>.</p>`,
    );
  };
}
