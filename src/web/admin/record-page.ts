// The record viewer's page: a header, the charts (drawn by /assets/record.js with uPlot, each
// with its values as a table), the timeline and the lists.
import { Html, html } from '../html.ts';
import type { Chart, RecordView } from './record.ts';

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const dayOf = (text: string | null) => (text ? text.slice(0, 10) : '—');

function chartFigure(c: Chart): Html {
  const range =
    c.low !== null || c.high !== null
      ? html`<p class="range">Reference range: ${c.low ?? '…'} – ${c.high ?? '…'} ${c.unit}</p>`
      : '';
  const rows = c.series.flatMap((s) =>
    s.points.map(
      ([t, v]) =>
        html`<tr><td>${day(t)}</td><td>${c.series.length > 1 ? s.name : ''}</td><td>${String(v)}</td></tr>`,
    ),
  );
  return html`<figure class="chart panel" data-chart="${c.id}"><figcaption><h3>${c.label}</h3>${c.unit ? html` <span class="unit">${c.unit}</span>` : ''}</figcaption>${range}
<div class="plot"></div>
<details><summary>Values</summary><table class="values"><thead><tr><th>Date</th><th></th><th>Value</th></tr></thead><tbody>${rows}</tbody></table></details></figure>`;
}

const list = <T>(items: T[], empty: string, row: (x: T) => Html) =>
  items.length === 0 ? html`<p>${empty}</p>` : html`<ul class="record-list">${items.map(row)}</ul>`;

export interface RecordPageOptions {
  /** A link back, above the name (the operator's connection page); none for the patient. */
  back?: { href: string; label: string };
  /** Where a synced document opens. */
  documentHref(binaryId: string): string;
}

/** The operator's view of one connection's record. */
export const operatorRecordOptions = (connectionId: string): RecordPageOptions => ({
  back: { href: `/admin/connections/${connectionId}`, label: '← Connection' },
  documentHref: (binaryId) => `/admin/connections/${connectionId}/documents/${binaryId}`,
});

export function recordPage(r: RecordView, { back, documentHref }: RecordPageOptions): Html {
  // JSON inside a script element: "<" escaped so no value can close the element.
  const data = new Html(JSON.stringify(r.charts).replace(/</g, '\\u003c'));
  const vitals = r.charts.filter((c) => c.kind === 'vital');
  const labs = r.charts.filter((c) => c.kind === 'lab');
  return html`${back ? html`<p><a href="${back.href}">${back.label}</a></p>` : ''}
<h1 data-testid="record-patient">${r.patient.name ?? 'Unnamed patient'}</h1>
<p>${[r.patient.birthDate ? `Born ${r.patient.birthDate}` : null, r.patient.gender].filter(Boolean).join(' · ')}</p>
<h2>Vital signs</h2>${vitals.length === 0 ? html`<p>None synced.</p>` : html`<div class="charts">${vitals.map(chartFigure)}</div>`}
<h2>Labs</h2>${labs.length === 0 ? html`<p>None synced.</p>` : html`<div class="charts">${labs.map(chartFigure)}</div>`}
<div class="columns">
<section class="panel"><h2>Timeline</h2>${list(r.timeline.slice(0, 60), 'Nothing synced.', (t) => html`<li><span class="when">${day(t.at)}</span> <span class="kind">${t.kind}</span> ${t.text}</li>`)}</section>
<section class="panel"><h2>Medications</h2>${list(r.medications, 'None.', (m) => html`<li>${m.text} <span class="when">${dayOf(m.date)}${m.status ? ` · ${m.status}` : ''}</span></li>`)}
<h2>Allergies</h2>${list(r.allergies, 'None recorded.', (a) => html`<li>${a.text}${a.criticality ? html` <span class="when">${a.criticality} criticality</span>` : ''}</li>`)}
<h2>Immunizations</h2>${list(r.immunizations, 'None.', (i) => html`<li>${i.text} <span class="when">${dayOf(i.date)}</span></li>`)}
<h2>Documents</h2>${list(r.documents, 'None.', (d) => html`<li>${d.binaryId ? html`<a href="${documentHref(d.binaryId)}">${d.text}</a>` : d.text} <span class="when">${dayOf(d.date)}${d.contentType ? ` · ${d.contentType}` : ''}</span></li>`)}</section>
</div>
<script type="application/json" id="record-charts">${data}</script>`;
}
