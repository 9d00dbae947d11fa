// The shell of the patient pages: one small stylesheet, no script, readable on a phone.
import { type Html, html } from './html.ts';

const STYLE = `
:root{--ink:#1d2733;--muted:#5b6878;--line:#d9e0e8;--accent:#0b6bcb;--ok:#16794c;--warn:#a15c07;--bad:#b42318;--bg:#f5f7fa}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:14px 24px;font-weight:600;letter-spacing:.2px}
header span{color:var(--accent)}main{max-width:560px;margin:40px auto;padding:0 20px}
.card{background:#fff;border:1px solid var(--line);border-radius:12px;padding:28px;box-shadow:0 1px 2px rgba(16,24,40,.04)}
h1{font-size:1.45rem;margin:0 0 8px}p{margin:8px 0;color:var(--muted)}
label{display:block;font-weight:600;margin:18px 0 6px}select{width:100%;padding:10px;border:1px solid var(--line);border-radius:8px;font:inherit;background:#fff}
button,.button{display:inline-block;margin-top:20px;padding:11px 20px;border:0;border-radius:8px;background:var(--accent);color:#fff;font:inherit;font-weight:600;cursor:pointer;text-decoration:none}
button.secondary{background:#fff;color:var(--bad);border:1px solid var(--line)}
.status{display:inline-block;padding:2px 10px;border-radius:999px;font-size:.85rem;font-weight:600}
.status.ok{background:#e6f4ec;color:var(--ok)}.status.warn{background:#fdf1e1;color:var(--warn)}.status.bad{background:#fde8e7;color:var(--bad)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:18px 0 0}dt{color:var(--muted)}dd{margin:0;word-break:break-all}
input[type=search]{width:100%;padding:10px;border:1px solid var(--line);border-radius:8px;font:inherit}
.search{display:grid;grid-template-columns:1fr auto;gap:0 10px;align-items:end}.search label{grid-column:1/3}.search button{margin-top:0}
button.secondary-action{background:#fff;color:var(--accent);border:1px solid var(--line)}
.choices{list-style:none;padding:0;margin:18px 0 0;border:1px solid var(--line);border-radius:8px}
.choices li+li{border-top:1px solid var(--line)}.choices label{display:flex;gap:10px;align-items:baseline;margin:0;padding:12px 14px;font-weight:400;cursor:pointer}
.choices .name{font-weight:600}.choices .where{color:var(--muted);font-size:.9rem;margin-left:auto}.empty{margin-top:18px}
footer{max-width:560px;margin:16px auto;padding:0 20px;color:var(--muted);font-size:.85rem}
`;

export function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · fhirbridge</title><style>${new (body.constructor as typeof Html)(STYLE)}</style></head>
<body><header>fhir<span>bridge</span></header><main><div class="card">${body}</div></main>
<footer>Your records travel from your doctor's office to this app through fhirbridge. Your password is only ever typed at your practice's sign-in page.</footer>
</body></html>`.value;
}
