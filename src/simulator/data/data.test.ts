import { describe, expect, it } from 'vitest';
import { TEST_PRACTICES } from '../fhir/fhir-server.test-helper.ts';
import type { FhirResource } from './fhir.ts';
import { createPatientData, DATA_EPOCH, type PatientData } from './index.ts';
import { hash128, opaqueId } from './prng.ts';
import { SEARCH_PARAMS } from './search-params.ts';
import { type ItemKind, keptItems, VITALS_PER_VISIT, type VisitPlan } from './visits.ts';

/** The FHIR test server's enabled practices. */
const practices = TEST_PRACTICES.filter((p) => !p.disabled);
const clock = { now: () => Date.UTC(2026, 2, 1), shift: () => {} };
const USERS = ['AdultFemaleFHIR', 'AdultMaleFHIR', 'ChildFemaleFHIR', 'ChildMaleFHIR'];

function data(seed = 'data-tests', resourcesPerPatient?: number): PatientData {
  return createPatientData({
    practices,
    seed,
    clock,
    ...(resourcesPerPatient === undefined ? {} : { resourcesPerPatient }),
  });
}

function chartOf(d: PatientData, username: string, practice = 'JAFJCD'): FhirResource[] {
  return d.allResources(practice, d.patientIdFor(practice, username) as string);
}

const ofType = (rs: FhirResource[], type: string) => rs.filter((r) => r.resourceType === type);
// biome-ignore lint/suspicious/noExplicitAny: generated JSON is inspected field by field
type Json = any;

describe('patient directory', () => {
  it('knows the four test patients, with practice-specific ids', () => {
    const d = data();
    expect(d.usernames()).toEqual(USERS);
    const a = d.patientIdFor('JAFJCD', 'AdultFemaleFHIR');
    const b = d.patientIdFor('DEBIFC', 'AdultFemaleFHIR');
    expect(a).toMatch(/^[A-Za-z0-9.-]{1,64}$/);
    expect(a).not.toBe(b);
    expect(d.patientIdFor('JAFJCD', 'adultfemalefhir')).toBe(a);
    expect(d.patientIdFor('NOPE', 'AdultFemaleFHIR')).toBeUndefined();
    expect(d.patientIdFor('JAFJCD', 'Nobody')).toBeUndefined();
    expect(d.displayName('JAFJCD', a as string)).toBe('Linda Hernández');
    expect(d.displayName('DEBIFC', b as string)).toBe('Linda Hernández');
    expect(d.displayName('JAFJCD', b as string)).toBeUndefined();
  });

  it('the same person at every practice, with the practice in the records', () => {
    const d = data();
    const here = chartOf(d, 'AdultMaleFHIR', 'JAFJCD');
    const there = chartOf(d, 'AdultMaleFHIR', 'DEBIFC');
    const [p1, p2] = [ofType(here, 'Patient')[0] as Json, ofType(there, 'Patient')[0] as Json];
    expect(p1.name).toEqual(p2.name);
    expect(p1.birthDate).toBe(p2.birthDate);
    expect(p1.id).not.toBe(p2.id);
    expect(ofType(there, 'Organization').map((o) => o.name)).toContain(
      'Sunrise Internal Medicine Associates',
    );
    // Arizona keeps -07:00 all year; Massachusetts has -04:00 and -05:00.
    expect(there.every((r) => r.meta?.lastUpdated?.endsWith('-07:00'))).toBe(true);
    const offsets = new Set(here.map((r) => r.meta?.lastUpdated?.slice(-6)));
    expect([...offsets].sort()).toEqual(['-04:00', '-05:00']);
  });
});

describe('generated charts', () => {
  it('are deterministic: the same seed gives identical JSON, another seed other data', () => {
    const one = JSON.stringify(USERS.map((u) => chartOf(data('seed-a'), u)));
    const two = JSON.stringify(USERS.map((u) => chartOf(data('seed-a'), u)));
    const other = JSON.stringify(USERS.map((u) => chartOf(data('seed-b'), u)));
    expect(one).toBe(two);
    expect(one).not.toBe(other);
  });

  it('give every resource a healow-like id and meta (versionId, lastUpdated with a local offset)', () => {
    const d = data();
    for (const user of USERS) {
      const chart = chartOf(d, user);
      const keys = new Set<string>();
      for (const r of chart) {
        expect(r.id).toMatch(/^[A-Za-z0-9]+\.[A-Za-z0-9]+-[A-Za-z0-9]+$/);
        expect((r.id as string).length).toBeGreaterThan(30);
        expect(r.meta?.versionId).toMatch(/^[1-9]\d*$/);
        expect(r.meta?.lastUpdated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-0[45]:00$/);
        expect(Date.parse(r.meta?.lastUpdated as string)).toBeLessThanOrEqual(DATA_EPOCH);
        keys.add(`${r.resourceType}/${r.id}`);
      }
      expect(keys.size).toBe(chart.length);
    }
  });

  it('cover every type healow serves, with intact references', () => {
    const d = data();
    const seen = new Set<string>();
    for (const user of USERS) {
      const chart = chartOf(d, user);
      const keys = new Set(chart.map((r) => `${r.resourceType}/${r.id}`));
      for (const r of chart) {
        seen.add(r.resourceType);
        const refs = JSON.stringify(r).matchAll(/"reference":"([A-Za-z]+\/[A-Za-z0-9.-]+)"/g);
        for (const [, ref] of refs)
          expect(keys.has(ref as string), `${r.resourceType}/${r.id} → ${ref}`).toBe(true);
      }
    }
    for (const type of [
      'Patient',
      'AllergyIntolerance',
      'Condition',
      'MedicationRequest',
      'Medication',
      'Immunization',
      'Observation',
      'Encounter',
      'Procedure',
      'DiagnosticReport',
      'DocumentReference',
      'Binary',
      'CarePlan',
      'CareTeam',
      'Goal',
      'Device',
      'Practitioner',
      'PractitionerRole',
      'Organization',
      'Location',
      'Provenance',
    ]) {
      expect(seen.has(type), type).toBe(true);
      expect(SEARCH_PARAMS[type], type).toBeDefined();
    }
  });

  it('are US Core shaped: demographics, vital signs, labs, notes, plans and teams', () => {
    const chart = chartOf(data(), 'AdultFemaleFHIR');
    const patient = ofType(chart, 'Patient')[0] as Json;
    const urls = patient.extension.map((e: Json) => e.url);
    expect(urls).toEqual(
      expect.arrayContaining([
        'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
        'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity',
        'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex',
      ]),
    );
    expect(patient.identifier[0].type.coding[0].code).toBe('MR');
    expect(patient.address[0]).toMatchObject({ city: 'Westborough', state: 'MA' });
    expect(patient.telecom.map((t: Json) => t.system)).toEqual(['phone', 'phone', 'email']);

    const observations = ofType(chart, 'Observation') as Json[];
    const category = (o: Json) => o.category[0].coding[0].code;
    const vitals = observations.filter((o) => category(o) === 'vital-signs');
    // Lab results: `laboratory`, and each panel's last test under eCW's `point-of-care` code.
    const labs = observations.filter((o) => ['laboratory', 'point-of-care'].includes(category(o)));
    const social = observations.filter((o) => category(o) === 'social-history');
    expect(vitals.length).toBeGreaterThan(200);
    expect(labs.length).toBeGreaterThan(20);
    expect(social.length).toBeGreaterThan(3);
    const years = new Set(vitals.map((o) => o.effectiveDateTime.slice(0, 4)));
    expect(years.size).toBeGreaterThanOrEqual(7);
    for (const o of vitals) {
      expect(o.code.coding[0].system).toBe('http://loinc.org');
      const q = o.valueQuantity ?? o.component[0].valueQuantity;
      expect(q.system).toBe('http://unitsofmeasure.org');
    }
    const bp = vitals.find((o) => o.code.coding[0].code === '85354-9');
    expect(bp.component.map((c: Json) => c.code.coding[0].code)).toEqual(['8480-6', '8462-4']);
    for (const o of labs) {
      expect(o.referenceRange[0].low ?? o.referenceRange[0].high).toBeDefined();
      expect(['H', 'L', 'N']).toContain(o.interpretation[0].coding[0].code);
    }
    // Her diabetes shows in her A1c results.
    const a1c = labs
      .filter((o) => o.code.coding[0].code === '4548-4')
      .map((o) => o.valueQuantity.value);
    expect(Math.max(...a1c)).toBeGreaterThan(6.5);

    const reports = ofType(chart, 'DiagnosticReport') as Json[];
    expect(
      reports.every((r) => r.result.length > 0 && r.category[0].coding[0].code === 'LAB'),
    ).toBe(true);
    const documents = ofType(chart, 'DocumentReference') as Json[];
    const urlsOfDocs = documents.map((d) => d.content[0].attachment.url as string);
    expect(urlsOfDocs.some((u) => u.startsWith('Binary/'))).toBe(true);
    expect(
      urlsOfDocs.some((u) =>
        u.startsWith('http://fhir4.eclinicalworks.com/fhir/r4/JAFJCD/Binary/'),
      ),
    ).toBe(true);
    const binaries = new Map((ofType(chart, 'Binary') as Json[]).map((b) => [b.id, b]));
    for (const doc of documents) {
      const binary = binaries.get(doc.content[0].attachment.url.split('/').pop());
      expect(binary.contentType).toBe(doc.content[0].attachment.contentType);
      expect(Buffer.from(binary.data, 'base64').length).toBe(doc.content[0].attachment.size);
    }
    const formats = new Set([...binaries.values()].map((b) => b.contentType));
    expect(formats.has('text/plain') && formats.has('text/html')).toBe(true);

    const carePlans = ofType(chart, 'CarePlan') as Json[];
    expect(
      carePlans.every((c) => c.category[0].coding[0].code === 'assess-plan' && c.text.div),
    ).toBe(true);
    expect(new Set((ofType(chart, 'CareTeam') as Json[]).map((t) => t.status))).toEqual(
      new Set(['active', 'inactive']),
    );
    expect((ofType(chart, 'Device')[0] as Json).udiCarrier[0].carrierHRF).toMatch(/^\(01\)/);
    expect((ofType(chart, 'Provenance')[0] as Json).target[0].reference).toMatch(
      /^DocumentReference\//,
    );
    const meds = ofType(chart, 'MedicationRequest') as Json[];
    expect(
      meds.some((m) => m.medicationReference) && meds.some((m) => m.medicationCodeableConcept),
    ).toBe(true);
  });

  it('follow a child along the immunization schedule and growth', () => {
    const chart = chartOf(data(), 'ChildMaleFHIR');
    const vaccines = (ofType(chart, 'Immunization') as Json[]).map(
      (i) => i.vaccineCode.coding[0].code,
    );
    for (const cvx of ['08', '20', '10', '03', '21', '150']) expect(vaccines).toContain(cvx);
    const weights = (ofType(chart, 'Observation') as Json[])
      .filter((o) => o.code.coding[0].code === '29463-7')
      .map((o) => o.valueQuantity.value as number);
    expect(weights[0]).toBeLessThan(8);
    expect(weights.at(-1)).toBeGreaterThan(25);
    // No known allergies is recorded as such (US Core).
    expect((ofType(chart, 'AllergyIntolerance')[0] as Json).code.coding[0].code).toBe('716186003');
  });
});

describe('size knob', () => {
  it('gives exactly resourcesPerPatient resources per patient', () => {
    const d = data('size', 3000);
    for (const user of USERS) expect(chartOf(d, user)).toHaveLength(3000);
  });

  it('builds a 50,000-resource patient in seconds and pages through it without building it all', () => {
    const d = data('big', 50_000);
    const id = d.patientIdFor('JAFJCD', 'AdultMaleFHIR') as string;
    const started = performance.now();
    const store = d.store('JAFJCD', id);
    expect(performance.now() - started).toBeLessThan(15_000);
    const counts = store?.counts() ?? {};
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(50_000);
    const query = {
      tokens: [{ name: 'category', anyOf: [{ code: 'vital-signs' }] }],
      dates: [],
      lastUpdated: [],
    };
    let after = 0;
    let served = 0;
    const pageStarted = performance.now();
    for (let i = 0; i < 20; i++) {
      const page = d.search('JAFJCD', id, 'Observation', query, {
        after,
        count: 200,
        linkBase: 'http://x',
      });
      served += page.resources.length;
      after = page.last;
    }
    expect(served).toBe(4000);
    expect((performance.now() - pageStarted) / 20).toBeLessThan(100);
  });
});

describe('prng and ids', () => {
  it('hashes and ids are stable across runs, ids 43 to 64 characters long', () => {
    expect(hash128('fhirbridge')).toEqual(hash128('fhirbridge'));
    expect(opaqueId('a', 1)).toBe(opaqueId('a', 1));
    expect(opaqueId('a', 1)).not.toBe(opaqueId('a', 2));
    // healow's ids: 43 to 64 characters of letters, digits, `.` and `-`.
    const lengths = Array.from({ length: 400 }, (_, i) => opaqueId('a', i).length);
    expect(Math.min(...lengths)).toBe(43);
    expect(Math.max(...lengths)).toBe(64);
    for (let i = 0; i < 50; i++)
      expect(opaqueId('b', i)).toMatch(/^[A-Za-z0-9]+\.[A-Za-z0-9]+-[A-Za-z0-9]+$/);
  });
});

describe('a visit cut by the size knob', () => {
  const plan = (...kinds: ItemKind[]): VisitPlan => ({
    v: 0,
    items: kinds.map((kind, index) => ({ kind, type: 'Observation', index })),
    preventive: false,
    sick: false,
  });
  const visit = plan('encounter', 'vital', 'vital', 'lab', 'lab', 'labReport', 'smoking');

  it('keeps the first items, or the report in place of the last vital sign', () => {
    expect(keptItems(visit, 3)).toEqual([0, 1, 2]);
    expect(keptItems(visit, 4)).toEqual([0, 1, 2, 3]); // the point-of-care result is not kept
    expect(keptItems(visit, 5)).toEqual([0, 1, 3, 4, 5]);
    expect(keptItems(visit, 6)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(keptItems(visit, 99)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('never leaves a point-of-care result that no report names', () => {
    let reportKeptInstead = 0;
    for (let size = 100; size <= 460; size += 9) {
      const d = data('cut-visits', size);
      for (const user of USERS) {
        const chart = chartOf(d, user);
        expect(chart).toHaveLength(size);
        const named = new Set(
          ofType(chart, 'DiagnosticReport').flatMap((r: Json) =>
            (r.result ?? []).map((ref: Json) => ref.reference),
          ),
        );
        const pointOfCare = ofType(chart, 'Observation').filter((o: Json) =>
          o.category?.some((c: Json) => c.coding?.some((x: Json) => x.code === 'point-of-care')),
        );
        for (const o of pointOfCare) expect(named).toContain(`Observation/${o.id}`);
        // A visit with its report but short of a vital sign is one the rule cut.
        const visitOf = (r: Json) => r.encounter?.reference as string | undefined;
        const withReport = new Set(ofType(chart, 'DiagnosticReport').map(visitOf));
        const vitalsPerVisit = new Map<string | undefined, number>();
        for (const o of ofType(chart, 'Observation') as Json[]) {
          if (!o.category?.some((c: Json) => c.coding?.some((x: Json) => x.code === 'vital-signs')))
            continue;
          vitalsPerVisit.set(visitOf(o), (vitalsPerVisit.get(visitOf(o)) ?? 0) + 1);
        }
        for (const [encounter, n] of vitalsPerVisit) {
          if (n < VITALS_PER_VISIT && withReport.has(encounter)) reportKeptInstead++;
        }
      }
    }
    // The sweep does meet cuts right before a report, so the rule above is exercised.
    expect(reportKeptInstead).toBeGreaterThan(0);
  });
});
