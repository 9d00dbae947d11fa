// A synced record read as a record: the patient, a timeline of visits, conditions and
// procedures, medications, allergies, immunizations, documents, and vital signs and labs as
// series for charts (with their reference ranges). Pure: resources in, a view out.

/** The vital signs charted, by LOINC code; blood pressure is one chart of two components. */
const VITALS: Record<string, string> = {
  '85354-9': 'Blood pressure',
  '29463-7': 'Body weight',
  '39156-5': 'Body mass index',
  '8867-4': 'Heart rate',
};
const SYSTOLIC = '8480-6';
const DIASTOLIC = '8462-4';

// biome-ignore lint/suspicious/noExplicitAny: resources as the EHR sent them, each member read defensively
type Json = Record<string, any>;

export interface Series {
  name: string;
  /** [epoch ms, value], oldest first. */
  points: Array<[number, number]>;
}

export interface Chart {
  id: string;
  label: string;
  unit: string;
  kind: 'vital' | 'lab';
  series: Series[];
  /** The reference range the EHR gave with the values, when it did. */
  low: number | null;
  high: number | null;
}

export interface TimelineItem {
  at: number;
  kind: 'Visit' | 'Condition' | 'Procedure';
  text: string;
}

export interface RecordView {
  patient: { name: string | null; birthDate: string | null; gender: string | null };
  timeline: TimelineItem[];
  medications: Array<{ text: string; date: string | null; status: string | null }>;
  allergies: Array<{ text: string; criticality: string | null }>;
  immunizations: Array<{ text: string; date: string | null }>;
  documents: Array<{
    text: string;
    date: string | null;
    contentType: string | null;
    /** The Binary its attachment points at (absolute or relative URL), when it does. */
    binaryId: string | null;
  }>;
  charts: Chart[];
}

const text = (c: Json | undefined): string | null =>
  c?.text ?? c?.coding?.find((x: Json) => x.display)?.display ?? c?.coding?.[0]?.code ?? null;
const loinc = (c: Json | undefined): string | null =>
  c?.coding?.find((x: Json) => x.system === 'http://loinc.org')?.code ??
  c?.coding?.[0]?.code ??
  null;
const when = (value: unknown): number | null => {
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
};
const observedAt = (o: Json) => when(o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.issued);
const isLab = (o: Json) =>
  (o.category ?? []).some((c: Json) => (c.coding ?? []).some((x: Json) => x.code === 'laboratory'));

export function readRecord(resources: readonly Json[]): RecordView {
  const of = (type: string) => resources.filter((r) => r.resourceType === type);
  const patient = of('Patient')[0];
  const name = patient?.name?.find((n: Json) => n.use === 'official') ?? patient?.name?.[0];

  const timeline: TimelineItem[] = [];
  const push = (at: number | null, kind: TimelineItem['kind'], t: string | null) => {
    if (at !== null && t) timeline.push({ at, kind, text: t });
  };
  for (const e of of('Encounter'))
    push(when(e.period?.start), 'Visit', text(e.type?.[0]) ?? e.class?.display ?? 'Visit');
  for (const c of of('Condition'))
    push(when(c.onsetDateTime ?? c.recordedDate), 'Condition', text(c.code));
  for (const p of of('Procedure'))
    push(when(p.performedDateTime ?? p.performedPeriod?.start), 'Procedure', text(p.code));
  timeline.sort((a, b) => b.at - a.at);

  const charts = new Map<string, Chart>();
  const chartFor = (id: string, label: string, unit: string, kind: Chart['kind']) => {
    let chart = charts.get(id);
    if (!chart) {
      chart = { id, label, unit, kind, series: [], low: null, high: null };
      charts.set(id, chart);
    }
    return chart;
  };
  const add = (chart: Chart, seriesName: string, at: number, value: number) => {
    let s = chart.series.find((x) => x.name === seriesName);
    if (!s) {
      s = { name: seriesName, points: [] };
      chart.series.push(s);
    }
    s.points.push([at, value]);
  };
  for (const o of of('Observation')) {
    const at = observedAt(o);
    if (at === null) continue;
    const code = loinc(o.code);
    if (code === '85354-9') {
      const chart = chartFor(code, VITALS[code] as string, 'mmHg', 'vital');
      for (const c of o.component ?? []) {
        const v = c.valueQuantity?.value;
        const which = loinc(c.code);
        if (typeof v !== 'number') continue;
        if (which === SYSTOLIC) add(chart, 'Systolic', at, v);
        if (which === DIASTOLIC) add(chart, 'Diastolic', at, v);
      }
      continue;
    }
    const v = o.valueQuantity?.value;
    if (typeof v !== 'number' || !code) continue;
    const vital = VITALS[code];
    if (!vital && !isLab(o)) continue;
    const label = vital ?? text(o.code) ?? code;
    const chart = chartFor(code, label, o.valueQuantity?.unit ?? '', vital ? 'vital' : 'lab');
    add(chart, label, at, v);
    const range = o.referenceRange?.[0];
    if (chart.low === null && typeof range?.low?.value === 'number') chart.low = range.low.value;
    if (chart.high === null && typeof range?.high?.value === 'number')
      chart.high = range.high.value;
  }
  for (const chart of charts.values())
    for (const s of chart.series) s.points.sort((a, b) => a[0] - b[0]);
  const ordered = [...charts.values()]
    .filter((c) => c.series.some((s) => s.points.length > 0))
    .sort((a, b) =>
      a.kind === b.kind ? a.label.localeCompare(b.label) : a.kind === 'vital' ? -1 : 1,
    );

  return {
    patient: {
      name: name
        ? (name.text ?? [...(name.given ?? []), name.family].filter(Boolean).join(' '))
        : null,
      birthDate: patient?.birthDate ?? null,
      gender: patient?.gender ?? null,
    },
    timeline,
    medications: of('MedicationRequest').map((m) => ({
      text: text(m.medicationCodeableConcept) ?? m.medicationReference?.display ?? 'Medication',
      date: m.authoredOn ?? null,
      status: m.status ?? null,
    })),
    allergies: of('AllergyIntolerance').map((a) => ({
      text: text(a.code) ?? 'Allergy',
      criticality: a.criticality ?? null,
    })),
    immunizations: of('Immunization').map((i) => ({
      text: text(i.vaccineCode) ?? 'Immunization',
      date: i.occurrenceDateTime ?? null,
    })),
    documents: of('DocumentReference').map((d) => ({
      text: d.description ?? text(d.type) ?? 'Document',
      date: d.date ?? null,
      contentType: d.content?.[0]?.attachment?.contentType ?? null,
      binaryId:
        /(?:^|\/)Binary\/([A-Za-z0-9.-]{1,64})$/.exec(d.content?.[0]?.attachment?.url ?? '')?.[1] ??
        null,
    })),
    charts: ordered,
  };
}
