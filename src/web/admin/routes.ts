// The operator dashboard under /admin: sign-in with the admin users of config (scrypt hashes,
// rate limited), a signed session cookie, a CSRF token on every form; the overview, the
// connections with filters, and one connection with its syncs, events and actions.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  decodeCursor,
  encodeCursor,
  listConnections,
  parseStates,
} from '../../access/connection-list.ts';
import type { Budget } from '../../budget/port.ts';
import type { Clock } from '../../common/clock.ts';
import { BridgeError } from '../../common/errors.ts';
import type { Sealer } from '../../common/seal.ts';
import type { Config } from '../../config/schema.ts';
import { endpointId } from '../../events/endpoints.ts';
import type { Webhooks } from '../../events/webhooks.ts';
import type { JobQueue } from '../../jobs/port.ts';
import type { KeyService } from '../../keys/index.ts';
import type { PracticeRegistry } from '../../practices/registry.ts';
import type { PracticeService } from '../../practices/service.ts';
import { queueSync, viewRun } from '../../records/sync-status.ts';
import type { ConnectionRecord, Store } from '../../store/port.ts';
import type { Vault } from '../../vault/index.ts';
import { BINARY_ID, readDocument, sendDocument } from '../documents.ts';
import { type Html, html } from '../html.ts';
import { PAGE_CSP } from '../layout.ts';
import { createWindowCounter } from '../sign-in-guard.ts';
import {
  type AdminSession,
  createSessionSigner,
  DECOY_HASH,
  SESSION_KEY_PURPOSE,
  verifyAdminPassword,
} from './auth.ts';
import { createBudgetHistory } from './budget-history.ts';
import { type AdminSection, adminPage } from './layout.ts';
import { readRecord } from './record.ts';
import { operatorRecordOptions, recordPage } from './record-page.ts';
import { listSyncRuns, streamSyncRuns } from './sync-runs.ts';
import { streamSync } from './sync-stream.ts';

export interface AdminDeps {
  config: Config;
  store: Store;
  clock: Clock;
  vault: Pick<Vault, 'get' | 'disconnect'>;
  practices: PracticeRegistry;
  budget: Pick<Budget, 'usageAll'>;
  jobs: JobQueue;
  webhooks: Pick<Webhooks, 'list' | 'redeliver'>;
  keys: Pick<KeyService, 'list' | 'rotate'>;
  directory: Pick<PracticeService, 'listPractices' | 'searchPractices'>;
  secureCookies: boolean;
  /** Derives the session key from the master key, the same in every API process. */
  sealer: Pick<Sealer, 'deriveKey'>;
}

const COOKIE = 'fb_admin';
const OPERATOR = { name: 'dashboard', role: 'admin' as const };

const connectionParams = z.object({ id: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/) });
const listQuery = z.object({
  state: z.string().max(200).optional(),
  practice: z.string().max(128).optional(),
  userRef: z.string().max(256).optional(),
  cursor: z.string().max(512).optional(),
});

declare module 'fastify' {
  interface FastifyRequest {
    adminSession?: AdminSession;
  }
}

const iso = (ms: number | null | undefined) =>
  ms === null || ms === undefined ? '—' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

const STATE_TONE: Record<string, string> = {
  active: 'ok',
  pending: 'warn',
  declined: 'warn',
  expired: 'warn',
  revoked: 'bad',
  reauthorization_required: 'bad',
  error: 'bad',
};
const stateBadge = (state: string) =>
  html`<span class="status ${STATE_TONE[state] ?? 'warn'}">${state}</span>`;

export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { config, store, clock } = deps;
  const signer = createSessionSigner(deps.sealer.deriveKey(SESSION_KEY_PURPOSE));
  const limits = config.admin.signInLimit;
  const byAddress = createWindowCounter({ clock, ...limits });
  const byUser = createWindowCounter({ clock, ...limits });
  const enabled = config.admin.users.length > 0;

  const send = (reply: FastifyReply, body: string, status = 200) =>
    reply
      .code(status)
      .header('content-security-policy', PAGE_CSP)
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'same-origin')
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(body);

  const view = (
    request: FastifyRequest,
    reply: FastifyReply,
    section: AdminSection,
    title: string,
    body: Html,
    assets: { scripts?: string[]; styles?: string[] } = {},
  ) => {
    const session = request.adminSession as AdminSession;
    return send(
      reply,
      adminPage(
        title,
        body,
        { section, username: session.username, csrf: signer.csrfToken(session) },
        assets,
      ),
    );
  };

  const sameOrigin = (request: FastifyRequest) => {
    const site = request.headers['sec-fetch-site'];
    const origin = request.headers.origin;
    return !(
      (site !== undefined && site !== 'same-origin' && site !== 'none') ||
      (origin !== undefined && origin !== new URL(config.publicUrl).origin)
    );
  };

  // Every page but the sign-in needs a session; every form a same-origin post with the
  // session's CSRF token.
  app.addHook('preHandler', async (request, reply) => {
    if (!request.url.startsWith('/admin')) return;
    if (!enabled) {
      return send(
        reply,
        adminPage(
          'Dashboard off',
          html`<div class="panel"><h1>The dashboard is off</h1><p>Add an operator to <code>admin.users</code> in the configuration to turn it on.</p></div>`,
        ),
        404,
      );
    }
    if (request.method === 'POST' && !sameOrigin(request)) {
      return send(
        reply,
        adminPage(
          'Refused',
          html`<div class="panel"><h1>Refused</h1><p>Forms here can only be sent from this site.</p></div>`,
        ),
        403,
      );
    }
    const path = request.url.split('?')[0];
    if (path === '/admin/sign-in') return;
    const session = signer.read(request.cookies[COOKIE], clock.now());
    if (!session) return reply.redirect('/admin/sign-in', 303);
    request.adminSession = session;
    if (
      request.method === 'POST' &&
      !signer.checkCsrf(session, (request.body as Record<string, unknown> | undefined)?.csrf)
    ) {
      return send(
        reply,
        adminPage(
          'Refused',
          html`<div class="panel"><h1>This form has expired</h1><p>Go back, reload the page and try again.</p></div>`,
        ),
        403,
      );
    }
  });

  const signInForm = (message?: string, username = '') =>
    adminPage(
      'Sign in',
      html`<div class="card signin"><h1>Operator sign-in</h1>${message ? html`<p class="notice" role="alert">${message}</p>` : ''}
<form method="post" action="/admin/sign-in"><label for="username">Username</label><input id="username" name="username" type="text" autocomplete="username" value="${username}" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button></form></div>`,
    );

  app.get('/admin/sign-in', async (_request, reply) => send(reply, signInForm()));

  app.post('/admin/sign-in', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const username = typeof body.username === 'string' ? body.username.slice(0, 64) : '';
    const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
    // Counted before the password is checked, so guessing is bounded per address and per name.
    const wait = byAddress.hit(request.ip) ?? byUser.hit(username.toLowerCase());
    if (wait !== undefined) {
      reply.header('retry-after', String(Math.ceil(wait / 1000)));
      return send(
        reply,
        signInForm('Too many sign-in attempts. Wait a few minutes and try again.', username),
        429,
      );
    }
    const user = config.admin.users.find((u) => u.username === username);
    const ok = await verifyAdminPassword(user?.passwordHash ?? DECOY_HASH, password);
    if (!user || !ok) {
      request.log.warn({ username }, 'an operator sign-in failed');
      return send(reply, signInForm('That username and password do not match.', username), 401);
    }
    const { cookie } = signer.issue(user.username, clock.now() + config.admin.sessionTtlMs);
    reply.setCookie(COOKIE, cookie, {
      path: '/admin',
      httpOnly: true,
      sameSite: 'strict',
      secure: deps.secureCookies,
      maxAge: Math.floor(config.admin.sessionTtlMs / 1000),
    });
    request.log.info({ username }, 'an operator signed in');
    return reply.redirect('/admin', 303);
  });

  app.post('/admin/sign-out', async (_request, reply) => {
    reply.clearCookie(COOKIE, { path: '/admin' });
    return reply.redirect('/admin/sign-in', 303);
  });

  app.get('/admin', async (request, reply) => {
    const counts = new Map<string, number>();
    const attention: ConnectionRecord[] = [];
    for (let offset = 0; ; offset += 500) {
      const rows = await store.connections.list({ limit: 500, offset });
      for (const c of rows) {
        counts.set(c.state, (counts.get(c.state) ?? 0) + 1);
        if (STATE_TONE[c.state] === 'bad' && attention.length < 10) attention.push(c);
      }
      if (rows.length < 500) break;
    }
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const [usage, dead, practiceList] = await Promise.all([
      deps.budget.usageAll(),
      store.webhooks.list({ status: 'dead', limit: 100 }),
      deps.practices.list(),
    ]);
    const names = new Map(practiceList.map((p) => [p.base, p.name]));
    const now = clock.now();
    const tile = (n: number | string, label: string) =>
      html`<div class="tile"><span class="n">${String(n)}</span><span class="l">${label}</span></div>`;
    return view(
      request,
      reply,
      'overview',
      'Overview',
      html`<h1>Overview</h1>
<div class="tiles">${tile(total, 'connections')}${[
        'active',
        'pending',
        'declined',
        'expired',
        'revoked',
        'reauthorization_required',
        'error',
      ].map((s) =>
        tile(counts.get(s) ?? 0, s.replace('_', ' ')),
      )}${tile(dead.length, 'webhook deliveries failed')}</div>
<section class="panel"><h2>Practice budgets</h2>${
        usage.length === 0
          ? html`<p>No practice has been called since the start.</p>`
          : html`<table><thead><tr><th>Practice</th><th>Used / limit this window</th><th></th><th>Waiting</th><th>429s</th><th>Locked</th></tr></thead><tbody>${usage.map(
              (u) =>
                html`<tr><td>${names.get(u.practice) ?? u.practice}</td><td>${u.used} / ${u.limit}</td><td><progress max="${u.limit}" value="${Math.min(u.used, u.limit)}">${u.used} of ${u.limit}</progress></td><td>${Object.values(u.waiting).reduce((a, b) => a + b, 0)}</td><td>${u.rateLimited}</td><td>${u.lockedUntil && u.lockedUntil > now ? `until ${iso(u.lockedUntil)}` : 'no'}</td></tr>`,
            )}</tbody></table>`
      }</section>
<section class="panel"><h2>Connections needing attention</h2>${
        attention.length === 0
          ? html`<p>None: no connection is revoked, in error or waiting for the patient to sign in again.</p>`
          : connectionTable(attention, names)
      }</section>`,
    );
  });

  app.get('/admin/connections', async (request, reply) => {
    const parsed = listQuery.safeParse(request.query);
    const q = parsed.success ? parsed.data : {};
    const practices = await deps.practices.list();
    const names = new Map(practices.map((p) => [p.base, p.name]));
    let rows: ConnectionRecord[] = [];
    let next: string | null = null;
    let problem: string | undefined;
    try {
      const practice = q.practice ? practices.find((p) => p.id === q.practice) : undefined;
      if (!q.practice || practice) {
        const page = await listConnections(store, OPERATOR, {
          limit: 50,
          ...(q.cursor ? { cursor: decodeCursor(q.cursor) } : {}),
          filter: {
            ...(q.state ? { states: parseStates(q.state) } : {}),
            ...(practice ? { practiceBase: practice.base } : {}),
            ...(q.userRef ? { userRef: q.userRef } : {}),
          },
        });
        rows = page.connections;
        next = page.next ? encodeCursor(page.next) : null;
      }
    } catch (error) {
      if (!(error instanceof BridgeError)) throw error;
      problem = error.message;
    }
    const keep = new URLSearchParams(
      Object.entries({ state: q.state, practice: q.practice, userRef: q.userRef }).filter(
        (e): e is [string, string] => typeof e[1] === 'string' && e[1] !== '',
      ),
    );
    if (next) keep.set('cursor', next);
    const states = [
      'active',
      'pending',
      'declined',
      'expired',
      'revoked',
      'reauthorization_required',
      'error',
    ];
    return view(
      request,
      reply,
      'connections',
      'Connections',
      html`<h1>Connections</h1>
<form method="get" action="/admin/connections" class="panel filters" role="search">
<div><label for="state">State</label><select id="state" name="state"><option value="">any</option>${states.map(
        (s) => html`<option value="${s}"${q.state === s ? html` selected` : ''}>${s}</option>`,
      )}</select></div>
<div><label for="practice">Practice</label><select id="practice" name="practice"><option value="">any</option>${practices.map(
        (p) =>
          html`<option value="${p.id}"${q.practice === p.id ? html` selected` : ''}>${p.name}</option>`,
      )}</select></div>
<div><label for="userRef">userRef</label><input id="userRef" name="userRef" type="text" value="${q.userRef ?? ''}"></div>
<div><button type="submit">Filter</button></div></form>
${problem ? html`<p class="notice" role="alert">${problem}</p>` : ''}
<section class="panel">${rows.length === 0 ? html`<p>No connection matches.</p>` : connectionTable(rows, names)}${
        next ? html`<a class="more" href="/admin/connections?${keep.toString()}">Next page</a>` : ''
      }</section>`,
    );
  });

  app.get('/admin/connections/:id', async (request, reply) => {
    const params = connectionParams.safeParse(request.params);
    const c = params.success ? await store.connections.get(params.data.id) : undefined;
    if (!c)
      return reply
        .code(404)
        .send(
          adminPage(
            'Not found',
            html`<div class="panel"><h1>No such connection</h1><a href="/admin/connections">All connections</a></div>`,
          ),
        );
    const practice = await deps.practices.byBase(c.practiceBase);
    const [events, runs] = await Promise.all([
      store.events.list({ connectionId: c.id, limit: 200 }),
      store.sync.listRuns(c.id, 5),
    ]);
    const csrf = signer.csrfToken(request.adminSession as AdminSession);
    const action = (path: string, label: string, extra: Html | '' = '') =>
      html`<form method="post" action="/admin/connections/${c.id}/${path}"><input type="hidden" name="csrf" value="${csrf}">${extra}<button type="submit"${path === 'disconnect' ? html` class="secondary"` : ''}>${label}</button></form>`;
    return view(
      request,
      reply,
      'connections',
      c.id,
      html`<h1>Connection <span class="mono">${c.id}</span></h1>
<section class="panel"><dl>
<dt>State</dt><dd>${stateBadge(c.state)} ${c.stateReason ?? ''}</dd>
<dt>Practice</dt><dd>${practice?.name ?? c.practiceBase}</dd>
<dt>Patient</dt><dd class="mono">${c.patientId ?? '—'}</dd>
<dt>userRef</dt><dd class="mono">${c.userRef}</dd>
<dt>Granted scopes</dt><dd><ul class="scopes">${c.grantedScopes.map((s) => html`<li>${s}</li>`)}</ul></dd>
<dt>Access token expires</dt><dd>${iso(c.accessExpiresAt)}</dd>
<dt>Refresh token expires</dt><dd>${iso(c.refreshExpiresAt)}</dd>
<dt>Connected</dt><dd>${iso(c.connectedAt)}</dd><dt>Created</dt><dd>${iso(c.createdAt)}</dd></dl>
<div class="actions"><a class="button secondary-action" href="/admin/connections/${c.id}/record">View the record</a>${c.state === 'active' ? action('sync', 'Sync now') : ''}${
        c.sealedTokens
          ? action(
              'disconnect',
              'Disconnect',
              html`<label class="confirm"><input type="checkbox" name="confirm" value="yes" required> I am sure: forget the tokens and the synced record</label>`,
            )
          : ''
      }</div></section>
<section class="panel" id="sync-live" data-stream="/admin/connections/${c.id}/sync/stream"><h2>Sync now</h2>
<p>Status: <span class="sync-status">…</span></p>
<table><thead><tr><th>Type</th><th>Status</th><th>Resources</th><th>Pages</th></tr></thead><tbody></tbody></table></section>
<section class="panel"><h2>Last syncs</h2>${
        runs.length === 0
          ? html`<p>Never synced.</p>`
          : html`<table><thead><tr><th>Started</th><th>Status</th><th>Per type</th></tr></thead><tbody>${runs.map(
              (r) => {
                const v = viewRun(r);
                return html`<tr><td>${iso(r.startedAt)}</td><td>${r.status}${v?.outcome ? ` (${v.outcome})` : ''}</td><td>${Object.entries(
                  v?.types ?? {},
                ).map(
                  ([type, t]) =>
                    html`<span class="mono">${type}</span> ${t.outcome} · ${t.resources}<br>`,
                )}</td></tr>`;
              },
            )}</tbody></table>`
      }</section>
<section class="panel"><h2>Events</h2>${
        events.length === 0
          ? html`<p>No events.</p>`
          : html`<table><thead><tr><th>When</th><th>Type</th><th>Data</th></tr></thead><tbody>${[
              ...events,
            ]
              .reverse()
              .map(
                (e) =>
                  html`<tr><td>${iso(e.createdAt)}</td><td>${e.type}</td><td><details><summary>${Object.keys(e.data).length} fields</summary><pre class="mono">${JSON.stringify(e.data, null, 2)}</pre></details></td></tr>`,
              )}</tbody></table>`
      }</section>`,
      { scripts: ['sync.js'] },
    );
  });

  const deliveryStatuses = ['pending', 'delivered', 'dead'] as const;
  const deliveriesQuery = z.object({
    status: z.enum(deliveryStatuses).optional().catch(undefined),
  });
  const deliveryParams = z.object({ id: z.string().regex(/^whd_[A-Za-z0-9_-]{10,64}$/) });

  app.get('/admin/webhooks', async (request, reply) => {
    const { status } = deliveriesQuery.parse(request.query);
    const rows = await deps.webhooks.list({ ...(status ? { status } : {}), limit: 100 });
    const csrf = signer.csrfToken(request.adminSession as AdminSession);
    // Where deliveries go: the configured endpoints, then those made over the API. Origin and
    // path only, as in the logs: a receiver may put a secret in its query.
    const shown = (url: string) => {
      const { origin, pathname } = new URL(url);
      return origin + pathname;
    };
    const endpoints = [
      ...config.webhooks.map((w) => ({
        id: endpointId(w.url),
        url: w.url,
        events: w.events ?? null,
        source: 'configuration file',
        description: null as string | null,
      })),
      ...(await store.webhooks.endpoints.list()).map((e) => ({
        id: e.id,
        url: e.url,
        events: e.events,
        source: 'API',
        description: e.description,
      })),
    ];
    const tone = { pending: 'warn', delivered: 'ok', dead: 'bad' } as const;
    return view(
      request,
      reply,
      'webhooks',
      'Webhook deliveries',
      html`<h1>Webhooks</h1>
<section class="panel" id="endpoints"><h2>Endpoints</h2>${
        endpoints.length === 0
          ? html`<p>None yet: add one in the configuration file or with <code>POST /api/webhooks/endpoints</code>.</p>`
          : html`<table><thead><tr><th>URL</th><th>Events</th><th>Made in</th><th>Id</th></tr></thead><tbody>${endpoints.map(
              (e) =>
                html`<tr data-endpoint="${e.id}"><td class="mono">${shown(e.url)}${e.description ? html`<br><span class="when">${e.description}</span>` : ''}</td><td>${e.events ? e.events.join(', ') : 'every type'}</td><td>${e.source}</td><td class="mono">${e.id}</td></tr>`,
            )}</tbody></table>`
      }</section>
<h2>Deliveries</h2>
<form method="get" action="/admin/webhooks" class="panel filters"><div><label for="status">Status</label><select id="status" name="status"><option value="">any</option>${deliveryStatuses.map(
        (s) => html`<option value="${s}"${status === s ? html` selected` : ''}>${s}</option>`,
      )}</select></div><div><button type="submit">Filter</button></div></form>
<section class="panel" id="deliveries">${
        rows.length === 0
          ? html`<p>No delivery matches.</p>`
          : html`<table><thead><tr><th>Event</th><th>Status</th><th>Attempts</th><th>Last answer</th><th>Endpoint</th><th>Created</th><th></th></tr></thead><tbody>${rows.map(
              (
                d,
              ) => html`<tr><td>${d.eventType}${d.connectionId ? html`<br><a class="mono" href="/admin/connections/${d.connectionId}">${d.connectionId}</a>` : ''}</td>
<td><span class="status ${tone[d.status]}">${d.status}</span></td><td>${d.attempts}</td><td>${d.lastStatus === null ? (d.lastError ?? '—') : `HTTP ${d.lastStatus}`}</td>
<td class="mono">${d.url}</td><td>${iso(d.createdAt)}</td><td>${
                d.status === 'pending'
                  ? ''
                  : html`<form method="post" action="/admin/webhooks/${d.id}/redeliver"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="secondary-action">Redeliver</button></form>`
              }</td></tr>`,
            )}</tbody></table>`
      }</section>`,
    );
  });

  app.post('/admin/webhooks/:id/redeliver', async (request, reply) => {
    const { id } = deliveryParams.parse(request.params);
    await deps.webhooks.redeliver(id);
    request.log.info(
      { deliveryId: id, username: request.adminSession?.username },
      'an operator redelivered a webhook',
    );
    return reply.redirect('/admin/webhooks', 303);
  });

  // The synced record as a record, with its vital signs and labs charted.
  app.get('/admin/connections/:id/record', async (request, reply) => {
    const params = connectionParams.safeParse(request.params);
    const c = params.success ? await store.connections.get(params.data.id) : undefined;
    if (!c) return reply.redirect('/admin/connections', 303);
    const resources: Record<string, unknown>[] = [];
    for await (const r of store.resources.iterate(c.id)) {
      if (r.deletedAt === null) resources.push(JSON.parse(r.json) as Record<string, unknown>);
    }
    return view(
      request,
      reply,
      'connections',
      'Record',
      recordPage(readRecord(resources), operatorRecordOptions(c.id)),
      {
        scripts: ['uplot.js', 'record.js'],
        styles: ['uplot.css'],
      },
    );
  });

  // The budget chart's hour of samples, taken while the server runs.
  const history = createBudgetHistory({ usageAll: () => deps.budget.usageAll(), clock });
  if (enabled) {
    app.addHook('onReady', async () => history.start());
    app.addHook('onClose', async () => history.stop());
  }

  app.get('/admin/practices/budget.json', async (_request, reply) => {
    await history.sample();
    return reply.header('cache-control', 'no-store').send(history.read());
  });

  app.get('/admin/practices', async (request, reply) => {
    const raw = (request.query as Record<string, unknown>).q;
    const q = typeof raw === 'string' ? raw.trim().slice(0, 100) : '';
    const rows = q
      ? (await deps.directory.searchPractices(q, 50)).map((m) => m.practice)
      : (await deps.directory.listPractices({ limit: 50 })).practices;
    const usage = new Map((await deps.budget.usageAll()).map((u) => [u.practice, u]));
    await history.sample();
    const samples = history.read();
    const charted = Object.keys(samples).filter((base) => (samples[base] ?? []).length > 0);
    const names = new Map(rows.map((p) => [p.base, p.name]));
    const health = (p: (typeof rows)[number]) =>
      p.health.discoveryOk === null
        ? html`<span class="status warn">not checked</span>`
        : p.health.discoveryOk
          ? html`<span class="status ok">ok</span>`
          : html`<span class="status bad">failing</span> <span class="mono">${p.health.lastError ?? ''}</span>`;
    return view(
      request,
      reply,
      'practices',
      'Practices',
      html`<h1>Practices</h1>
<form method="get" action="/admin/practices" class="panel filters" role="search"><div><label for="q">Name, city or code</label><input id="q" name="q" type="search" value="${q}"></div><div><button type="submit">Search</button></div></form>
<section class="panel"><h2>Budget, the last hour</h2>${
        charted.length === 0
          ? html`<p>No practice has been called yet.</p>`
          : html`<div class="charts">${charted.map(
              (base) =>
                html`<figure class="chart" data-budget="${base}"><figcaption><h3>${names.get(base) ?? base}</h3> <span class="unit">calls this window</span></figcaption><div class="plot"></div></figure>`,
            )}</div>`
      }</section>
<section class="panel"><h2>${q ? `Matching “${q}”` : 'Practices'}</h2><table><thead><tr><th>Practice</th><th>Code</th><th>Status</th><th>Health</th><th>Budget now</th></tr></thead><tbody>${rows.map(
        (p) => {
          const u = usage.get(p.base);
          return html`<tr data-practice="${p.id}"><td>${p.name}</td><td class="mono">${p.id}</td><td>${p.status}</td><td>${health(p)}</td><td class="budget-now">${u ? `${u.used} / ${u.limit}` : '—'}</td></tr>`;
        },
      )}</tbody></table></section>
${await registrationsSection(signer.csrfToken(request.adminSession as AdminSession))}`,
      { scripts: ['uplot.js', 'budget.js'], styles: ['uplot.css'] },
    );
  });

  const keyringParams = z.object({ keyring: z.string().min(1).max(64) });
  /** Each registration's keyring, once (registrations may share one). */
  const keyrings = () => {
    const out = new Map<string, string[]>();
    for (const [name, r] of Object.entries(config.registrations)) {
      const keyring = r.keyring ?? name;
      out.set(keyring, [...(out.get(keyring) ?? []), name]);
    }
    return out;
  };

  const keyTone: Record<string, string> = { active: 'ok', next: 'warn', retired: 'bad' };
  /** One keyring: its keys (active, next, retired), JWKS links, and rotation behind its name. */
  const keyringSection = async (
    keyring: string,
    registrations: string[],
    csrf: string,
    back: 'keys' | 'practices',
  ) => {
    const keys = await deps.keys.list(keyring);
    const kids = (status: string) => keys.filter((k) => k.status === status).map((k) => k.kid);
    return html`<section class="panel" data-keyring="${keyring}" id="keyring-${keyring}"><h2>Keyring ${keyring}</h2>
<p>Signs for ${registrations.join(', ')}. JWKS: ${registrations.map((r) => html`<a href="/jwks/${r}.json">/jwks/${r}.json</a> `)}</p>
<dl class="kids"><dt>Active</dt><dd class="mono" data-kids="active">${kids('active').join(', ') || '—'}</dd><dt>Next</dt><dd class="mono" data-kids="next">${kids('next').join(', ') || '—'}</dd><dt>Retired</dt><dd class="mono" data-kids="retired">${kids('retired').join(', ') || '—'}</dd></dl>
<table><thead><tr><th>Key id (kid)</th><th>Status</th><th>Created</th><th>Signs from</th><th>Leaves the JWKS</th></tr></thead><tbody>${keys.map(
      (k) =>
        html`<tr><td class="mono">${k.kid}</td><td><span class="status ${keyTone[k.status] ?? 'warn'}">${k.status}</span></td><td>${iso(k.createdAt)}</td><td>${iso(k.activatesAt)}</td><td>${iso(k.removeAt)}</td></tr>`,
    )}</tbody></table>
<form method="post" action="/admin/keys/${keyring}/rotate" class="rotate"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="back" value="${back}">
<label for="confirm-${keyring}-${back}">To rotate, type the keyring's name (${keyring})</label>
<div class="actions"><input id="confirm-${keyring}-${back}" name="confirm" type="text" autocomplete="off" required><button type="submit">Rotate key</button></div>
<p>A new key is published in the JWKS at once and signs once healow's cache has seen it; the current key then retires and leaves the JWKS after its grace period.</p></form></section>`;
  };

  /** The app registrations of config (healow client ids), each with its keyring. */
  const registrationsSection = async (csrf: string) => {
    const rows = Object.entries(config.registrations);
    const sections = await Promise.all(
      [...keyrings()].map(([keyring, names]) => keyringSection(keyring, names, csrf, 'practices')),
    );
    return html`<section class="panel" id="registrations"><h2>Registrations and their keys</h2>
<table><thead><tr><th>Registration</th><th>Environment</th><th>Client id</th><th>Client type</th><th>Keyring</th></tr></thead><tbody>${rows.map(
      ([name, r]) =>
        html`<tr data-registration="${name}"><td>${name}</td><td>${r.environment}</td><td class="mono">${r.clientId}</td><td>${r.clientType}</td><td><a href="#keyring-${r.keyring ?? name}">${r.keyring ?? name}</a></td></tr>`,
    )}</tbody></table></section>${sections}`;
  };

  app.get('/admin/keys', async (request, reply) => {
    const csrf = signer.csrfToken(request.adminSession as AdminSession);
    const sections = await Promise.all(
      [...keyrings()].map(([keyring, registrations]) =>
        keyringSection(keyring, registrations, csrf, 'keys'),
      ),
    );
    return view(request, reply, 'keys', 'Keys', html`<h1>Signing keys</h1>${sections}`);
  });

  app.post('/admin/keys/:keyring/rotate', async (request, reply) => {
    const { keyring } = keyringParams.parse(request.params);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const back = body.back === 'practices' ? `/admin/practices#keyring-${keyring}` : '/admin/keys';
    if (!keyrings().has(keyring)) return reply.redirect(back, 303);
    // The name typed again: a rotation changes what healow must trust, so no single click does it.
    if (body.confirm !== keyring) {
      return reply.redirect(back, 303);
    }
    const key = await deps.keys.rotate(keyring);
    request.log.info(
      { keyring, kid: key.kid, username: request.adminSession?.username },
      'an operator rotated a signing key',
    );
    return reply.redirect(back, 303);
  });

  const binaryParams = z.object({
    id: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/),
    binaryId: z.string().regex(BINARY_ID),
  });
  app.get('/admin/connections/:id/documents/:binaryId', async (request, reply) => {
    const params = binaryParams.safeParse(request.params);
    const document = params.success
      ? await readDocument(store, params.data.id, params.data.binaryId)
      : undefined;
    if (!document) {
      return send(
        reply,
        adminPage(
          'Not found',
          html`<div class="panel"><h1>No such document</h1><p>It was not synced, or it has no content.</p></div>`,
        ),
        404,
      );
    }
    return sendDocument(reply, document);
  });

  // Every connection's sync runs, followed live.
  app.get('/admin/syncs', async (request, reply) => {
    const runs = await listSyncRuns(deps.jobs);
    const tone: Record<string, string> = { succeeded: 'ok', failed: 'bad', cancelled: 'bad' };
    return view(
      request,
      reply,
      'syncs',
      'Syncs',
      html`<h1>Sync runs</h1>
<section class="panel"><p>The latest 50 syncs of every connection, newest first; running ones update as they go.</p>
<table id="sync-runs" data-stream="/admin/syncs/stream"><thead><tr><th>Connection</th><th>Status</th><th class="wide-only">Mode</th><th>Types done</th><th>Resources</th><th class="wide-only">Pages</th><th class="wide-only">Started</th><th class="wide-only">Finished</th></tr></thead><tbody>${runs.map(
        (r) =>
          html`<tr data-job="${r.id}" data-status="${r.status}"><td class="mono">${r.connectionId ? html`<a href="/admin/connections/${r.connectionId}">${r.connectionId}</a>` : ''}</td><td><span class="status ${tone[r.status] ?? 'warn'}">${r.status}</span></td><td class="wide-only">${r.mode}</td><td class="types"><progress max="${Math.max(r.typesTotal, 1)}" value="${r.typesDone}">${r.typesDone} of ${r.typesTotal}</progress> ${r.typesDone} / ${r.typesTotal} types</td><td class="resources">${r.resources}</td><td class="pages wide-only">${r.pages}</td><td class="wide-only">${iso(r.startedAt ?? r.createdAt)}</td><td class="wide-only">${iso(r.finishedAt)}</td></tr>`,
      )}</tbody></table><p class="no-runs"${runs.length === 0 ? '' : html` hidden`}>No sync has run yet.</p></section>`,
      { scripts: ['sync-runs.js'] },
    );
  });

  app.get('/admin/syncs/stream', async (request, reply) =>
    streamSyncRuns(request, reply, { jobs: deps.jobs }),
  );

  app.get('/admin/connections/:id/sync/stream', async (request, reply) => {
    const { id } = connectionParams.parse(request.params);
    await deps.vault.get(id);
    return streamSync(request, reply, id, { jobs: deps.jobs });
  });

  app.post('/admin/connections/:id/sync', async (request, reply) => {
    const { id } = connectionParams.parse(request.params);
    // The same rule as the API and the CLI: a connection that cannot sync says why.
    await queueSync(deps, id, 'auto');
    request.log.info(
      { connectionId: id, username: request.adminSession?.username },
      'an operator asked for a sync',
    );
    return reply.redirect(`/admin/connections/${id}`, 303);
  });

  app.post('/admin/connections/:id/disconnect', async (request, reply) => {
    const { id } = connectionParams.parse(request.params);
    if ((request.body as Record<string, unknown> | undefined)?.confirm !== 'yes') {
      return reply.redirect(`/admin/connections/${id}`, 303);
    }
    await deps.vault.disconnect(id);
    request.log.info(
      { connectionId: id, username: request.adminSession?.username },
      'an operator disconnected a connection',
    );
    return reply.redirect(`/admin/connections/${id}`, 303);
  });
}

function connectionTable(rows: ConnectionRecord[], names: Map<string, string>): Html {
  return html`<table><thead><tr><th>Connection</th><th>State</th><th>Practice</th><th>userRef</th><th>Created</th></tr></thead><tbody>${rows.map(
    (c) =>
      html`<tr><td class="mono"><a href="/admin/connections/${c.id}">${c.id}</a></td><td>${stateBadge(c.state)}</td><td>${names.get(c.practiceBase) ?? c.practiceBase}</td><td class="mono">${c.userRef}</td><td>${iso(c.createdAt)}</td></tr>`,
  )}</tbody></table>`;
}
