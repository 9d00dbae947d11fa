// The part of a chart that scales: visits. Each visit yields an Encounter, eight vital signs,
// sometimes a lab panel (Observations + DiagnosticReport), a smoking status, a Procedure and a
// signed note (Binary + DocumentReference + Provenance). A visit's shape depends only on its
// index, so the store can count items without building them and build any one of them lazily.

import { createHash } from 'node:crypto';
import {
  acuteConditionId,
  acuteVisitIndex,
  ageAt,
  type Chart,
  clinicTime,
  type Generated,
  withMeta,
} from './chart.ts';
import { type NoteContent, type NoteFormat, renderNote } from './documents.ts';
import {
  coding,
  concept,
  decimalValue,
  type FhirResource,
  quantity,
  type Reference,
  reference,
  round,
} from './fhir.ts';
import { createPrng, type Prng } from './prng.ts';
import {
  BP_DIASTOLIC,
  BP_SYSTOLIC,
  type Code,
  DOCUMENT_TYPES,
  ENCOUNTER_TYPES,
  LABS,
  type LabPanel,
  type LabTest,
  PANELS,
  PROBLEMS,
  PROCEDURES,
  SMOKING_STATUS,
  SMOKING_VALUES,
  SYSTEM,
  US_CORE,
  VITALS,
  type VitalKind,
  vitalKindsForAge,
} from './terminology.ts';
import { formatDate, formatDateTime, formatInstant, MS } from './time.ts';

export type ItemKind =
  | 'encounter'
  | 'vital'
  | 'lab'
  | 'labReport'
  | 'smoking'
  | 'procedure'
  | 'binary'
  | 'document'
  | 'provenance';

const TYPE_OF: Record<ItemKind, string> = {
  encounter: 'Encounter',
  vital: 'Observation',
  lab: 'Observation',
  labReport: 'DiagnosticReport',
  smoking: 'Observation',
  procedure: 'Procedure',
  binary: 'Binary',
  document: 'DocumentReference',
  provenance: 'Provenance',
};

export interface ItemPlan {
  kind: ItemKind;
  type: string;
  /** Vital sign slot (0-7) or lab test position in the panel. */
  index: number;
}

export interface VisitPlan {
  v: number;
  items: ItemPlan[];
  panel?: LabPanel;
  preventive: boolean;
  sick: boolean;
  procedure?: Code;
  noteFormat?: NoteFormat;
}

/** Most items a visit can have: encounter, 8 vitals, 5 labs + report, smoking, procedure, note x3. */
export const MAX_ITEMS_PER_VISIT = 20;
export const VITALS_PER_VISIT = 8;

/** The visit's shape: a function of the chart and the index only (never of its date). */
export function planVisit(chart: Chart, v: number): VisitPlan {
  const { person } = chart;
  const prng = createPrng(chart.seed, chart.practice.code, person.username, 'visit-plan', v);
  const preventive = v % (person.adult ? 4 : 3) === 0;
  const sick = !preventive && prng.chance(0.3);
  const items: ItemPlan[] = [];
  const push = (kind: ItemKind, index = 0) => items.push({ kind, type: TYPE_OF[kind], index });
  push('encounter');
  for (let i = 0; i < VITALS_PER_VISIT; i++) push('vital', i);
  let panel: LabPanel | undefined;
  if (person.labPanels.length > 0 && (preventive || prng.chance(person.adult ? 0.3 : 0.1))) {
    // Preventive visits work through the patient's panels in turn (a diabetic gets an A1c
    // every few visits); other visits order one at random.
    const cycle = v / (person.adult ? 4 : 3);
    panel = preventive
      ? (person.labPanels[cycle % person.labPanels.length] as LabPanel)
      : prng.pick(person.labPanels);
    for (let i = 0; i < PANELS[panel].tests.length; i++) push('lab', i);
    push('labReport');
  }
  if (v % (person.adult ? 4 : 10) === 0) push('smoking');
  let procedure: Code | undefined;
  if (prng.chance(0.25)) {
    procedure = prng.pick(person.adult ? PROCEDURES.slice(0, 4) : PROCEDURES.slice(4, 8));
    push('procedure');
  }
  let noteFormat: NoteFormat | undefined;
  if (preventive || prng.chance(0.5)) {
    const r = prng.next();
    noteFormat =
      r < 0.45
        ? 'text/plain'
        : r < 0.75
          ? 'text/html'
          : r < 0.9
            ? 'application/pdf'
            : 'application/xml';
    push('binary');
    push('document');
    push('provenance');
  }
  return { v, items, panel, preventive, sick, procedure, noteFormat };
}

/** When visit `v` happened: spread over the history (denser in infancy), in clinic hours. */
export function visitTime(chart: Chart, v: number): number {
  const prng = createPrng(chart.seed, chart.practice.code, chart.person.username, 'visit-time', v);
  const count = Math.max(1, chart.visitCount);
  const f = Math.min(1, Math.max(0, (v + 0.5 + prng.float(-0.35, 0.35)) / count));
  const warped = chart.person.adult ? f : f ** 1.5;
  const t = chart.start + warped * (chart.epoch - chart.start - 4 * MS.DAY);
  return clinicTime(chart, t, prng.int(0, 35));
}

export function itemId(chart: Chart, type: string, v: number, k: number): string {
  return type === 'Encounter' ? chart.id('Encounter', v) : chart.id(type, v, k);
}

interface VisitContext {
  chart: Chart;
  plan: VisitPlan;
  time: number;
  age: number;
  encounter: Reference;
  performer: Reference;
  prng: (k: number) => Prng;
  /** Index of the past acute problem diagnosed at this visit, if any. */
  acute?: number;
  /** The note, rendered once per visit (Binary and DocumentReference both need it). */
  note?: { content: NoteContent; bytes: Buffer };
}

function visitContext(chart: Chart, v: number, plan = planVisit(chart, v)): VisitContext {
  const time = visitTime(chart, v);
  let acute: number | undefined;
  chart.person.acuteProblems.forEach((_, i) => {
    if (acuteVisitIndex(chart, i) === v) acute = i;
  });
  const clinician = plan.preventive || v % 2 === 0 ? chart.pcp : chart.refs.staff.nursePractitioner;
  return {
    chart,
    plan,
    time,
    age: ageAt(chart, time),
    encounter: reference('Encounter', chart.id('Encounter', v)),
    performer: reference('Practitioner', clinician.id, clinician.display),
    prng: (k) => createPrng(chart.seed, chart.practice.code, chart.person.username, 'item', v, k),
    acute,
  };
}

/**
 * Builds item `k` of visit `v`. `linkBase` is the practice base that absolute attachment URLs use
 * (healow mixes absolute and relative ones).
 */
export function buildVisitItem(chart: Chart, v: number, k: number, linkBase: string): Generated {
  return generate(visitContext(chart, v), k, linkBase);
}

/**
 * Which items a visit cut to `keep` items holds: the first `keep`, except that a cut between a
 * lab panel's last result and its report keeps the report in place of the visit's last vital
 * sign. That last result is the point-of-care one no category search finds, so without its
 * report nothing in the record would name it.
 */
export function keptItems(plan: VisitPlan, keep: number): number[] {
  const n = Math.min(keep, plan.items.length);
  const kept = Array.from({ length: n }, (_, k) => k);
  if (n === plan.items.length || plan.items[n]?.kind !== 'labReport') return kept;
  const lastVital = plan.items.findLastIndex((item) => item.kind === 'vital');
  if (lastVital < 0 || lastVital >= n) return kept;
  return [...kept.filter((k) => k !== lastVital), n];
}

/** The items of visit `v` kept under a cut to `keep` (all by default), with their item index. */
export function buildVisit(
  chart: Chart,
  v: number,
  linkBase: string,
  keep = MAX_ITEMS_PER_VISIT,
): { k: number; generated: Generated }[] {
  const ctx = visitContext(chart, v);
  return keptItems(ctx.plan, keep).map((k) => ({ k, generated: generate(ctx, k, linkBase) }));
}

function generate(ctx: VisitContext, k: number, linkBase: string): Generated {
  const item = ctx.plan.items[k];
  if (!item) throw new Error(`visit ${ctx.plan.v} has no item ${k}`);
  const { resource, at, versionId } = buildItem(ctx, item, k, ctx.prng(k), linkBase);
  const lastUpdated = Math.min(at, ctx.chart.epoch - 60_000);
  return {
    resource: withMeta(resource, versionId, lastUpdated, ctx.chart.zone),
    lastUpdated,
    versionId,
  };
}

interface Built {
  resource: FhirResource;
  at: number;
  versionId: number;
}

function buildItem(
  ctx: VisitContext,
  item: ItemPlan,
  k: number,
  prng: Prng,
  linkBase: string,
): Built {
  const { chart, plan } = ctx;
  const id = itemId(chart, item.type, plan.v, k);
  switch (item.kind) {
    case 'encounter':
      return encounter(ctx, id, prng);
    case 'vital':
      return vital(ctx, id, item.index, prng);
    case 'lab':
      return lab(ctx, id, item.index, prng);
    case 'labReport':
      return labReport(ctx, id, k, prng);
    case 'smoking':
      return smoking(ctx, id, prng);
    case 'procedure':
      return procedure(ctx, id, prng);
    case 'binary':
      return binary(ctx, id, prng);
    case 'document':
      return documentReference(ctx, id, k, prng, linkBase);
    case 'provenance':
      return provenance(ctx, id, k, prng);
  }
}

const dt = (ctx: VisitContext, t: number) => formatDateTime(t, ctx.chart.zone);

/** eClinicalWorks' local observation categories (outside HL7's observation-category system). */
export const ECW_OBSERVATION_CATEGORY =
  'http://fhir.eclinicalworks.com/CodeSystem/observation-category';

function encounter(ctx: VisitContext, id: string, prng: Prng): Built {
  const { chart, plan, time } = ctx;
  const end = time + prng.int(15, 45) * 60_000;
  const type = plan.preventive
    ? ctx.age < 1
      ? ENCOUNTER_TYPES.preventiveInfant
      : ctx.age < 18
        ? ENCOUNTER_TYPES.preventiveChild
        : ENCOUNTER_TYPES.preventiveAdult
    : prng.chance(0.5)
      ? ENCOUNTER_TYPES.established
      : ENCOUNTER_TYPES.establishedModerate;
  const acute = ctx.acute === undefined ? undefined : chart.person.acuteProblems[ctx.acute];
  const chronic = chart.person.problems[plan.v % Math.max(1, chart.person.problems.length)];
  const reason = plan.preventive
    ? concept({ system: SYSTEM.snomed, code: '185349003', display: 'Encounter for check up' })
    : acute
      ? concept(PROBLEMS[acute].snomed, PROBLEMS[acute].icd10)
      : chronic
        ? concept(PROBLEMS[chronic].snomed, PROBLEMS[chronic].icd10)
        : concept({ system: SYSTEM.snomed, code: '390906007', display: 'Follow-up encounter' });
  return {
    resource: {
      resourceType: 'Encounter',
      id,
      meta: { profile: [`${US_CORE}/us-core-encounter`] },
      identifier: [
        {
          system: `https://fhir.eclinicalworks.com/identifiers/${chart.practice.code}/encounter`,
          value: String(100000 + plan.v),
        },
      ],
      status: 'finished',
      class: { system: SYSTEM.v3ActCode, code: 'AMB', display: 'ambulatory' },
      type: [concept(type)],
      subject: chart.patientRef,
      participant: [
        {
          type: [coding(SYSTEM.v3Participation, 'PPRF', 'primary performer')],
          period: { start: dt(ctx, time), end: dt(ctx, end) },
          individual: ctx.performer,
        },
      ],
      period: { start: dt(ctx, time), end: dt(ctx, end) },
      reasonCode: [reason],
      ...(ctx.acute === undefined
        ? {}
        : {
            diagnosis: [
              { condition: reference('Condition', acuteConditionId(chart, ctx.acute)), rank: 1 },
            ],
          }),
      location: [
        {
          location: reference('Location', chart.refs.locationId, chart.refs.locationName),
          status: 'completed',
        },
      ],
      serviceProvider: reference(
        'Organization',
        chart.refs.organizationId,
        chart.refs.organizationName,
      ),
    },
    at: end + prng.int(1, 48) * MS.HOUR,
    versionId: prng.chance(0.2) ? 2 : 1,
  };
}

function observationBase(
  ctx: VisitContext,
  id: string,
  category: string,
  display: string,
  code: FhirResource['code'],
  profile: string,
  at: number,
) {
  return {
    resourceType: 'Observation',
    id,
    meta: { profile: [profile] },
    status: 'final',
    category: [
      { coding: [{ system: SYSTEM.observationCategory, code: category, display }], text: display },
    ],
    code,
    subject: ctx.chart.patientRef,
    encounter: ctx.encounter,
    effectiveDateTime: dt(ctx, at),
  };
}

export type VitalReading =
  | { kind: VitalKind; systolic: number; diastolic: number }
  | { kind: VitalKind; value: number };

/** A vital sign reading: deterministic per visit and slot, following age, sex and problems. */
export function vitalReading(
  chart: Chart,
  v: number,
  slot: number,
  time: number,
  sick: boolean,
): VitalReading {
  const age = ageAt(chart, time);
  const kind = vitalKindsForAge(age)[slot] as VitalKind;
  const prng = createPrng(chart.seed, chart.practice.code, chart.person.username, 'vital', v, slot);
  const { person } = chart;
  const female = person.gender === 'female';
  const progress = (time - chart.start) / Math.max(1, chart.epoch - chart.start);
  const height = person.adult
    ? (female ? 162.5 : 178) + prng.normal(0, 0.4)
    : childHeight(age, female) + prng.normal(0, 0.6);
  const weight = person.adult
    ? (female ? 79 : 101) +
      3 * Math.sin((2 * Math.PI * (time - chart.start)) / (3 * MS.YEAR)) -
      2 * progress +
      prng.normal(0, 0.5)
    : childWeight(age, female) * (1 + prng.normal(0, 0.03));
  const hypertensive = person.problems.includes('hypertension');
  switch (kind) {
    case 'bloodPressure': {
      const [sys, dia] = person.adult
        ? hypertensive
          ? [142 - 16 * progress, 90 - 10 * progress]
          : [118, 76]
        : [95 + 1.5 * age, 58 + age];
      return {
        kind,
        systolic: Math.round(sys + prng.normal(0, 6)),
        diastolic: Math.round(dia + prng.normal(0, 4)),
      };
    }
    case 'heartRate': {
      const base =
        age < 1
          ? 140 - 25 * age
          : age < 18
            ? Math.max(75, 115 - 4.5 * age)
            : person.smoking === 'current'
              ? 80
              : 72;
      return { kind, value: Math.round(base + prng.normal(0, 5) + (sick ? 8 : 0)) };
    }
    case 'respiratoryRate': {
      const base = age < 1 ? 40 - 12 * age : age < 18 ? Math.max(16, 28 - 1.3 * age) : 16;
      return { kind, value: Math.round(base + prng.normal(0, 1.5)) };
    }
    case 'temperature':
      return {
        kind,
        value: sick ? 37.9 + Math.abs(prng.normal(0, 0.5)) : 36.8 + prng.normal(0, 0.2),
      };
    case 'weight':
      return { kind, value: weight };
    case 'height':
      return { kind, value: height };
    case 'bmi':
      return { kind, value: weight / (height / 100) ** 2 };
    case 'oxygenSaturation':
      return {
        kind,
        value: Math.min(
          100,
          Math.round((person.smoking === 'current' ? 95 : 98) + prng.normal(0, 1)),
        ),
      };
    case 'headCircumference':
      return {
        kind,
        value: 34.5 + 12 * (1 - Math.exp(-1.8 * age)) + (female ? 0 : 0.8) + prng.normal(0, 0.3),
      };
    case 'bmiPercentile':
    case 'weightForLength':
      return { kind, value: Math.min(97, Math.max(3, 55 + prng.normal(0, 12))) };
  }
}

function childHeight(age: number, female: boolean): number {
  const h = age < 1 ? 50 + 25 * age : age < 2 ? 75 + 12 * (age - 1) : 87 + 6.3 * (age - 2);
  return female ? h * 0.99 : h;
}

function childWeight(age: number, female: boolean): number {
  const w =
    age < 1
      ? 3.4 + 6.1 * age ** 0.8
      : age < 2
        ? 9.5 + 2.7 * (age - 1)
        : 12.2 + 2.2 * (age - 2) + 0.12 * (age - 2) ** 2;
  return female ? w * 0.96 : w;
}

function vital(ctx: VisitContext, id: string, slot: number, prng: Prng): Built {
  const reading = vitalReading(ctx.chart, ctx.plan.v, slot, ctx.time, ctx.plan.sick);
  const spec = VITALS[reading.kind];
  const at = ctx.time + prng.int(3, 15) * 60_000;
  const base = observationBase(
    ctx,
    id,
    'vital-signs',
    'Vital Signs',
    concept(spec.code, ...(spec.extra ?? [])),
    spec.profile,
    at,
  );
  const value =
    'systolic' in reading
      ? {
          component: [
            {
              code: concept(BP_SYSTOLIC),
              valueQuantity: quantity(reading.systolic, spec.unit, spec.ucum, 0),
            },
            {
              code: concept(BP_DIASTOLIC),
              valueQuantity: quantity(reading.diastolic, spec.unit, spec.ucum, 0),
            },
          ],
        }
      : { valueQuantity: quantity(reading.value, spec.unit, spec.ucum, spec.decimals) };
  const issued = at + prng.int(5, 40) * 60_000;
  return {
    resource: {
      ...base,
      meta: {
        profile: spec.profile.includes('us/core')
          ? [spec.profile]
          : [`${US_CORE}/us-core-vital-signs`, spec.profile],
      },
      issued: formatInstant(issued, ctx.chart.zone),
      performer: [
        reference(
          'Practitioner',
          ctx.chart.refs.staff.nurse.id,
          ctx.chart.refs.staff.nurse.display,
        ),
      ],
      ...value,
    },
    at: issued,
    versionId: 1,
  };
}

function rangeFor(spec: (typeof LABS)[LabTest], female: boolean) {
  const low = female ? (spec.lowFemale ?? spec.low) : spec.low;
  const high = female ? (spec.highFemale ?? spec.high) : spec.high;
  return { low, high };
}

function lab(ctx: VisitContext, id: string, index: number, prng: Prng): Built {
  const { chart, plan } = ctx;
  const test = PANELS[plan.panel as LabPanel].tests[index] as LabTest;
  const spec = LABS[test];
  const female = chart.person.gender === 'female';
  const progress = (ctx.time - chart.start) / Math.max(1, chart.epoch - chart.start);
  const shift = (chart.person.labShift[test] ?? 0) * (1 - 0.3 * progress);
  const value = Math.max(spec.sd / 4, spec.mean + shift * spec.sd + prng.normal(0, spec.sd * 0.7));
  const rounded = round(value, spec.decimals);
  const { low, high } = rangeFor(spec, female);
  const flag =
    high !== undefined && rounded > high ? 'H' : low !== undefined && rounded < low ? 'L' : 'N';
  const flagDisplay = { H: 'High', L: 'Low', N: 'Normal' }[flag];
  // Every value keeps the test's precision in the JSON text (a WBC range ends at `11.0`).
  const q = (n: number) => ({
    ...decimalValue(n, spec.decimals),
    unit: spec.ucum,
    system: SYSTEM.ucum,
    code: spec.ucum,
  });
  // The panel's last test is resulted in-house under eCW's own category code, so a per-category
  // search never finds it: only its DiagnosticReport's `result` leads to it.
  const pointOfCare = index === PANELS[plan.panel as LabPanel].tests.length - 1;
  const collected = ctx.time + prng.int(20, 50) * 60_000;
  const resulted = collected + prng.int(6, 72) * MS.HOUR;
  const rangeText =
    low !== undefined && high !== undefined
      ? `${low}-${high} ${spec.ucum}`
      : high !== undefined
        ? `<${high} ${spec.ucum}`
        : `>${low} ${spec.ucum}`;
  return {
    resource: {
      ...observationBase(
        ctx,
        id,
        'laboratory',
        'Laboratory',
        concept(spec.code),
        `${US_CORE}/us-core-observation-lab`,
        collected,
      ),
      ...(pointOfCare
        ? {
            category: [
              {
                coding: [
                  {
                    system: ECW_OBSERVATION_CATEGORY,
                    code: 'point-of-care',
                    display: 'Point of Care',
                  },
                ],
                text: 'Point of Care',
              },
            ],
          }
        : {}),
      issued: formatInstant(resulted, chart.zone),
      performer: [reference('Organization', chart.refs.labId, chart.refs.labName)],
      valueQuantity: q(rounded),
      interpretation: [coding(SYSTEM.interpretation, flag, flagDisplay)],
      referenceRange: [
        {
          ...(low !== undefined ? { low: q(low) } : {}),
          ...(high !== undefined ? { high: q(high) } : {}),
          text: rangeText,
        },
      ],
    },
    at: resulted,
    versionId: prng.chance(0.05) ? 2 : 1,
  };
}

function labReport(ctx: VisitContext, id: string, k: number, prng: Prng): Built {
  const { chart, plan } = ctx;
  const panel = PANELS[plan.panel as LabPanel];
  const results = plan.items
    .map((item, i) => ({ item, i }))
    .filter(({ item }) => item.kind === 'lab')
    .map(({ i }) => reference('Observation', itemId(chart, 'Observation', plan.v, i)));
  const collected = ctx.time + 30 * 60_000;
  const issued = collected + prng.int(24, 96) * MS.HOUR;
  return {
    resource: {
      resourceType: 'DiagnosticReport',
      id,
      meta: { profile: [`${US_CORE}/us-core-diagnosticreport-lab`] },
      status: 'final',
      category: [concept({ system: SYSTEM.v2_0074, code: 'LAB', display: 'Laboratory' })],
      code: concept(panel.code),
      subject: chart.patientRef,
      encounter: ctx.encounter,
      effectiveDateTime: dt(ctx, collected),
      issued: formatInstant(issued, chart.zone),
      performer: [reference('Organization', chart.refs.labId, chart.refs.labName)],
      result: results,
      identifier: [
        {
          system: `https://fhir.eclinicalworks.com/identifiers/${chart.practice.code}/lab-order`,
          value: `L${plan.v}-${k}`,
        },
      ],
    },
    at: issued,
    versionId: 1,
  };
}

function smoking(ctx: VisitContext, id: string, prng: Prng): Built {
  const at = ctx.time + prng.int(5, 20) * 60_000;
  return {
    resource: {
      ...observationBase(
        ctx,
        id,
        'social-history',
        'Social History',
        concept(SMOKING_STATUS),
        `${US_CORE}/us-core-smokingstatus`,
        at,
      ),
      issued: formatInstant(at + 10 * 60_000, ctx.chart.zone),
      valueCodeableConcept: concept(SMOKING_VALUES[ctx.chart.person.smoking]),
    },
    at: at + prng.int(1, 6) * MS.HOUR,
    versionId: 1,
  };
}

function procedure(ctx: VisitContext, id: string, prng: Prng): Built {
  const { chart, plan } = ctx;
  const code = plan.procedure as Code;
  const at = ctx.time + prng.int(10, 30) * 60_000;
  return {
    resource: {
      resourceType: 'Procedure',
      id,
      meta: { profile: [`${US_CORE}/us-core-procedure`] },
      status: 'completed',
      code: concept(code),
      subject: chart.patientRef,
      encounter: ctx.encounter,
      performedDateTime: dt(ctx, at),
      performer: [
        {
          actor: ctx.performer,
          onBehalfOf: reference(
            'Organization',
            chart.refs.organizationId,
            chart.refs.organizationName,
          ),
        },
      ],
      location: reference('Location', chart.refs.locationId, chart.refs.locationName),
    },
    at: at + prng.int(1, 24) * MS.HOUR,
    versionId: 1,
  };
}

function noteOf(ctx: VisitContext): NoteContent {
  const { chart, plan, time } = ctx;
  const { person } = chart;
  const vitals = Array.from({ length: 8 }, (_, slot) =>
    vitalReading(chart, plan.v, slot, time, plan.sick),
  );
  const vitalText = vitals
    .map((r) => {
      const spec = VITALS[r.kind];
      return 'systolic' in r
        ? `BP ${r.systolic}/${r.diastolic} mmHg`
        : `${spec.code.display} ${round(r.value, spec.decimals)} ${spec.unit}`;
    })
    .join('; ');
  const acute = ctx.acute === undefined ? undefined : person.acuteProblems[ctx.acute];
  const complaint = plan.preventive
    ? 'Routine preventive visit.'
    : acute
      ? `Seen for ${PROBLEMS[acute].snomed.display.toLowerCase()}.`
      : 'Follow-up of chronic conditions.';
  const problems = person.problems.map((p) => PROBLEMS[p].snomed.display).join(', ') || 'none';
  return {
    title:
      plan.noteFormat === 'application/xml'
        ? 'Visit Summary'
        : plan.preventive
          ? 'Preventive Visit Note'
          : 'Progress Note',
    lines: [
      `Patient: ${[...person.given, person.family].join(' ')}  DOB: ${person.birthDate}`,
      `Date of service: ${formatDate(time, chart.zone)}  Provider: ${ctx.performer.display ?? ''}`,
      `Practice: ${chart.practice.name}`,
      `Chief complaint: ${complaint}`,
      `Vitals: ${vitalText}.`,
      `Active problems: ${problems}.`,
      `Plan: ${plan.sick ? 'supportive care, return if symptoms worsen.' : 'continue current plan, follow up as scheduled.'}`,
    ],
  };
}

function note(ctx: VisitContext): { content: NoteContent; bytes: Buffer } {
  if (!ctx.note) {
    const content = noteOf(ctx);
    ctx.note = { content, bytes: renderNote(content, ctx.plan.noteFormat as NoteFormat) };
  }
  return ctx.note;
}

function signedAt(ctx: VisitContext): number {
  const prng = ctx.prng(-1);
  return ctx.time + prng.int(1, 72) * MS.HOUR;
}

function binary(ctx: VisitContext, id: string, _prng: Prng): Built {
  return {
    resource: {
      resourceType: 'Binary',
      id,
      contentType: ctx.plan.noteFormat,
      data: note(ctx).bytes.toString('base64'),
    },
    at: signedAt(ctx),
    versionId: 1,
  };
}

function documentReference(
  ctx: VisitContext,
  id: string,
  k: number,
  prng: Prng,
  linkBase: string,
): Built {
  const { chart, plan } = ctx;
  const binaryId = itemId(chart, 'Binary', plan.v, k - 1);
  const { bytes, content } = note(ctx);
  const signed = signedAt(ctx);
  const amended = prng.chance(0.1);
  const type =
    plan.noteFormat === 'application/xml'
      ? DOCUMENT_TYPES.summary
      : plan.preventive
        ? DOCUMENT_TYPES.historyAndPhysical
        : prng.chance(0.1)
          ? DOCUMENT_TYPES.consultNote
          : DOCUMENT_TYPES.progressNote;
  // healow: "attachment URLs may be absolute or relative".
  const url = prng.chance(0.5) ? `Binary/${binaryId}` : `${linkBase}/Binary/${binaryId}`;
  return {
    resource: {
      resourceType: 'DocumentReference',
      id,
      meta: { profile: [`${US_CORE}/us-core-documentreference`] },
      identifier: [
        { system: 'urn:ietf:rfc:3986', value: `urn:oid:2.16.840.1.113883.3.564.${plan.v}.${k}` },
      ],
      status: 'current',
      docStatus: amended ? 'amended' : 'final',
      type: concept(type),
      category: [coding(SYSTEM.documentCategory, 'clinical-note', 'Clinical Note')],
      subject: chart.patientRef,
      date: formatInstant(signed, chart.zone),
      author: [ctx.performer],
      authenticator: ctx.performer,
      custodian: reference('Organization', chart.refs.organizationId, chart.refs.organizationName),
      description: type.display,
      content: [
        {
          attachment: {
            contentType: plan.noteFormat,
            language: 'en-US',
            url,
            size: bytes.length,
            hash: createHash('sha1').update(bytes).digest('base64'),
            title: content.title,
            creation: dt(ctx, signed),
          },
          format:
            plan.noteFormat === 'application/xml'
              ? {
                  system: SYSTEM.formatCode,
                  code: 'urn:hl7-org:sdwg:ccda-structuredBody:2.1',
                  display: 'C-CDA R2.1 Structured Body',
                }
              : {
                  system: SYSTEM.formatCode,
                  code: 'urn:ihe:iti:xds:2017:mimeTypeSufficient',
                  display: 'mimeType Sufficient',
                },
        },
      ],
      context: {
        encounter: [ctx.encounter],
        period: { start: dt(ctx, ctx.time), end: dt(ctx, ctx.time + 30 * 60_000) },
      },
    },
    at: amended ? signed + prng.int(2, 20) * MS.DAY : signed + 60_000,
    versionId: amended ? 2 : 1,
  };
}

function provenance(ctx: VisitContext, id: string, k: number, _prng: Prng): Built {
  const { chart, plan } = ctx;
  const signed = signedAt(ctx);
  const org = reference('Organization', chart.refs.organizationId, chart.refs.organizationName);
  return {
    resource: {
      resourceType: 'Provenance',
      id,
      meta: { profile: [`${US_CORE}/us-core-provenance`] },
      target: [reference('DocumentReference', itemId(chart, 'DocumentReference', plan.v, k - 1))],
      recorded: formatInstant(signed, chart.zone),
      agent: [
        {
          type: coding(SYSTEM.usCoreProvenanceParticipant, 'author', 'Author'),
          who: ctx.performer,
          onBehalfOf: org,
        },
        {
          type: coding(SYSTEM.usCoreProvenanceParticipant, 'transmitter', 'Transmitter'),
          who: org,
        },
      ],
    },
    at: signed + 2 * 60_000,
    versionId: 1,
  };
}
