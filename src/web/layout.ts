// The shell of the patient pages: one stylesheet and, where a page needs it, one script, both
// served from /assets (see assets.ts); readable on a phone, usable without JavaScript.
import { type Html, html } from './html.ts';

/**
 * Scripts and styles from this origin only, never inline; no framing (clickjacking); forms and
 * fetches back to this origin. form-action is left out: a form here redirects on to the EHR.
 */
export const PAGE_CSP =
  "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

export interface PageOptions {
  /** Script names under /assets/ to load at the end of the body. */
  scripts?: string[];
}

export function page(title: string, body: Html, options: PageOptions = {}): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · fhirbridge</title><link rel="stylesheet" href="/assets/fhirbridge.css"></head>
<body><header>fhir<span>bridge</span></header><main><div class="card">${body}</div></main>
<footer>Your records travel from your doctor's office to this app through fhirbridge. Your password is only ever typed at your practice's sign-in page.</footer>
${(options.scripts ?? []).map((s) => html`<script src="/assets/${s}" defer></script>`)}
</body></html>`.value;
}
