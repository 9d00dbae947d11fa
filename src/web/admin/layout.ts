// The shell of the operator dashboard: the same stylesheet as the patient pages, a wider page,
// a nav, and the sign-out form carrying the session's CSRF token.
import { type Html, html } from '../html.ts';

export type AdminSection = 'overview' | 'connections' | 'syncs' | 'practices' | 'webhooks' | 'keys';

export function adminPage(
  title: string,
  body: Html,
  nav?: { section: AdminSection; username: string; csrf: string },
  assets: { scripts?: string[]; styles?: string[] } = {},
): string {
  const link = (section: AdminSection, href: string, label: string) =>
    html`<a href="${href}"${nav?.section === section ? html` aria-current="page"` : ''}>${label}</a>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · fhirbridge admin</title><link rel="stylesheet" href="/assets/fhirbridge.css">${(assets.styles ?? []).map((n) => html`<link rel="stylesheet" href="/assets/${n}">`)}</head>
<body class="admin"><header><span class="brand">fhir<span>bridge</span> <small>operator</small></span>${
    nav
      ? html`<nav>${link('overview', '/admin', 'Overview')}${link('connections', '/admin/connections', 'Connections')}${link('syncs', '/admin/syncs', 'Syncs')}${link('practices', '/admin/practices', 'Practices')}${link('webhooks', '/admin/webhooks', 'Webhooks')}${link('keys', '/admin/keys', 'Keys')}</nav>
<form method="post" action="/admin/sign-out" class="sign-out"><input type="hidden" name="csrf" value="${nav.csrf}"><span>${nav.username}</span><button type="submit" class="link">Sign out</button></form>`
      : ''
  }</header>
<main>${body}</main>${(assets.scripts ?? []).map((n) => html`<script src="/assets/${n}" defer></script>`)}</body></html>`
    .value;
}
