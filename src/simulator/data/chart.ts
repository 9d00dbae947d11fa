// One test patient's chart at one practice: the context every generator reads (ids, dates,
// references) and the resources that do not scale with visits: Patient, allergies, problems,
// medications, immunizations, goals, care plans, care teams, devices and the practice's own.

import type { SimPractice } from '../context.ts';
import { coding, concept, type FhirResource, type Reference, reference } from './fhir.ts';
import type { TestPerson } from './people.ts';
import {
  type PracticeRefs,
  practiceRefs,
  practiceResources,
  type StaffMember,
} from './practice.ts';
import { createPrng, opaqueId } from './prng.ts';
import {
  ALLERGIES,
  CHILD_SCHEDULE,
  DEVICES,
  DRUGS,
  LABS,
  NO_KNOWN_ALLERGY,
  PROBLEMS,
  type Problem,
  SYSTEM,
  US_CORE,
  VACCINES,
  type Vaccine,
} from './terminology.ts';
import {
  formatDate,
  formatDateTime,
  formatInstant,
  localMidnight,
  MS,
  timeZoneOfState,
  type UsTimeZone,
} from './time.ts';

/** A generated resource and its version, before the store indexes it. */
export interface Generated {
  resource: FhirResource;
  lastUpdated: number;
  versionId: number;
}

export interface Chart {
  seed: string;
  practice: SimPractice;
  person: TestPerson;
  zone: UsTimeZone;
  patientId: string;
  patientRef: Reference;
  refs: PracticeRefs;
  /** The clinician who sees this patient (family physician or pediatrician). */
  pcp: StaffMember;
  /** End of the generated history: no generated timestamp is later. */
  epoch: number;
  birth: number;
  /** Start of the generated history (8 years back, or a few days after birth). */
  start: number;
  /** Number of visits (set once the chart is laid out). */
  visitCount: number;
  /** A patient-specific opaque id. */
  id(type: string, ...parts: (string | number)[]): string;
}

export const ADULT_HISTORY_YEARS = 8;

export function patientIdOf(seed: string, practiceCode: string, username: string): string {
  return opaqueId(seed, practiceCode, username, 'Patient');
}

export function createChart(
  seed: string,
  practice: SimPractice,
  person: TestPerson,
  epoch: number,
): Chart {
  const zone = timeZoneOfState(practice.state);
  const [y, m, d] = person.birthDate.split('-').map(Number) as [number, number, number];
  const birth = localMidnight(y, m - 1, d, zone);
  const refs = practiceRefs(seed, practice);
  const patientId = patientIdOf(seed, practice.code, person.username);
  return {
    seed,
    practice,
    person,
    zone,
    patientId,
    patientRef: reference('Patient', patientId, displayNameOf(person)),
    refs,
    pcp: person.adult ? refs.staff.familyPhysician : refs.staff.pediatrician,
    epoch,
    birth,
    start: person.adult ? epoch - ADULT_HISTORY_YEARS * MS.YEAR : birth + 5 * MS.DAY,
    visitCount: 0,
    id: (type, ...parts) => opaqueId(seed, practice.code, person.username, type, ...parts),
  };
}

export function displayNameOf(person: TestPerson): string {
  return `${person.given[0]} ${person.family}`;
}

export function ageAt(chart: Chart, time: number): number {
  return (time - chart.birth) / MS.YEAR;
}

/**
 * Adds `meta` (versionId, lastUpdated with the practice's offset) and, where the resource has
 * none, a generated `text` narrative (healow sends one on every resource), keeping
 * `resourceType`, `id`, `meta` and `text` first as HAPI does.
 */
export function withMeta(
  resource: FhirResource,
  versionId: number,
  lastUpdated: number,
  zone: UsTimeZone,
): FhirResource {
  const { resourceType, id, meta, text, ...rest } = resource;
  // Binary is no DomainResource: FHIR gives it no `text` element.
  const narrative = text ?? (resourceType === 'Binary' ? undefined : generatedNarrative(resource));
  return {
    resourceType,
    id,
    meta: { ...meta, versionId: String(versionId), lastUpdated: formatInstant(lastUpdated, zone) },
    ...(narrative === undefined ? {} : { text: narrative }),
    ...rest,
  };
}

/** A short XHTML summary: the type, then the resource's own name for itself and its status. */
export function generatedNarrative(resource: FhirResource): { status: 'generated'; div: string } {
  const concept = (value: unknown): string | undefined => {
    const cc = (Array.isArray(value) ? value[0] : value) as
      | { text?: unknown; coding?: { display?: unknown }[] }
      | undefined;
    const label = cc?.text ?? cc?.coding?.[0]?.display;
    return typeof label === 'string' ? label : undefined;
  };
  const name = (resource.name as { text?: unknown }[] | string | undefined) ?? undefined;
  const label =
    concept(resource.code) ??
    concept(resource.type) ??
    concept(resource.vaccineCode) ??
    concept(resource.medicationCodeableConcept) ??
    (typeof name === 'string'
      ? name
      : typeof name?.[0]?.text === 'string'
        ? name[0].text
        : undefined) ??
    (typeof resource.description === 'string' ? resource.description : undefined) ??
    concept((resource.description as unknown) ?? undefined) ??
    '';
  const status = typeof resource.status === 'string' ? ` (${resource.status})` : '';
  return {
    status: 'generated',
    div: `<div xmlns="http://www.w3.org/1999/xhtml"><p><b>${escapeXml(resource.resourceType)}</b> ${escapeXml(String(label))}${escapeXml(status)}</p></div>`,
  };
}

/** Business hours on the practice's local calendar: 08:00-16:45 on a weekday. */
export function clinicTime(chart: Chart, around: number, slot: number): number {
  let day = Math.floor((around + chart.zone.standardOffsetMin * 60_000) / MS.DAY);
  const weekday = (day + 4) % 7; // 1970-01-01 was a Thursday
  if (weekday === 6) day += 2;
  if (weekday === 0) day += 1;
  const date = new Date(day * MS.DAY);
  const midnight = localMidnight(
    date.getUTCFullYear(),
    date.getUTCMonth(),
    date.getUTCDate(),
    chart.zone,
  );
  return midnight + 8 * MS.HOUR + (slot % 36) * 15 * 60_000;
}

/** Everything of a chart that does not come from visits. `visitTime` places linked encounters. */
export function fixedResources(chart: Chart, visitTime: (v: number) => number): Generated[] {
  const { person, zone, refs } = chart;
  // One PRNG per section, so that no section's draws depend on another's (the visit layout
  // changes what the acute problems draw, and must not change anything else).
  const section = (name: string) =>
    createPrng(chart.seed, chart.practice.code, person.username, 'fixed', name);
  let prng = section('allergies');
  const out: Generated[] = [];
  const add = (resource: FhirResource, lastUpdated: number, versionId = 1) => {
    const clamped = Math.min(lastUpdated, chart.epoch - MS.HOUR);
    out.push({
      resource: withMeta(resource, versionId, clamped, zone),
      lastUpdated: clamped,
      versionId,
    });
  };
  const dt = (t: number) => formatDateTime(t, zone);
  const day = (t: number) => formatDate(t, zone);
  const patient = chart.patientRef;
  const pcp = reference('Practitioner', chart.pcp.id, chart.pcp.display);
  const nurse = reference('Practitioner', refs.staff.nurse.id, refs.staff.nurse.display);
  const org = reference('Organization', refs.organizationId, refs.organizationName);
  const span = chart.epoch - chart.start;
  const randomTime = (from: number, to: number) =>
    clinicTime(chart, prng.float(from, to), prng.int(0, 35));

  // The practice's own resources: recorded long ago, touched a little before the epoch.
  for (const resource of practiceResources(chart.seed, chart.practice, refs)) {
    const p = createPrng(chart.seed, chart.practice.code, 'practice-version', resource.id ?? '');
    add(resource, chart.epoch - p.int(30, 400) * MS.DAY - p.int(0, 86_400) * 1000, p.int(1, 3));
  }

  add(patientResource(chart, pcp, org), chart.epoch - prng.int(5, 60) * MS.DAY, 3);

  // Allergies (US Core AllergyIntolerance); "no known allergies" when there are none.
  if (person.allergies.length === 0) {
    const recorded = randomTime(chart.start, chart.start + span / 4);
    add(
      {
        resourceType: 'AllergyIntolerance',
        id: chart.id('AllergyIntolerance', 'nka'),
        meta: { profile: [`${US_CORE}/us-core-allergyintolerance`] },
        clinicalStatus: coding(SYSTEM.allergyClinical, 'active', 'Active'),
        verificationStatus: coding(SYSTEM.allergyVerification, 'confirmed', 'Confirmed'),
        code: concept(NO_KNOWN_ALLERGY),
        patient,
        recordedDate: dt(recorded),
        recorder: pcp,
      },
      recorded + MS.HOUR,
    );
  }
  person.allergies.forEach((name, i) => {
    const spec = ALLERGIES[name];
    const recorded = randomTime(chart.start, chart.epoch - 30 * MS.DAY);
    add(
      {
        resourceType: 'AllergyIntolerance',
        id: chart.id('AllergyIntolerance', name, i),
        meta: { profile: [`${US_CORE}/us-core-allergyintolerance`] },
        clinicalStatus: coding(SYSTEM.allergyClinical, 'active', 'Active'),
        verificationStatus: coding(SYSTEM.allergyVerification, 'confirmed', 'Confirmed'),
        type: 'allergy',
        category: [spec.category],
        criticality: spec.criticality,
        code: concept(spec.code),
        patient,
        onsetDateTime: day(Math.max(chart.birth + MS.YEAR, recorded - prng.int(1, 15) * MS.YEAR)),
        recordedDate: dt(recorded),
        recorder: pcp,
        reaction: [
          {
            manifestation: [concept(spec.reaction)],
            severity: spec.criticality === 'high' ? 'severe' : 'mild',
          },
        ],
      },
      recorded + prng.int(1, 48) * MS.HOUR,
      prng.int(1, 2),
    );
  });

  prng = section('problems');
  // Problems: chronic ones on the problem list, past acute ones as encounter diagnoses of a visit.
  const conditionIds: string[] = [];
  person.problems.forEach((name, i) => {
    const spec = PROBLEMS[name];
    const onset = randomTime(
      person.adult ? chart.start - 6 * MS.YEAR : chart.birth + MS.YEAR,
      chart.start + span / 2,
    );
    const recorded = Math.max(onset, chart.start) + prng.int(0, 60) * MS.DAY;
    const id = chart.id('Condition', name, i);
    conditionIds.push(id);
    add(
      {
        resourceType: 'Condition',
        id,
        meta: { profile: [`${US_CORE}/us-core-condition`] },
        clinicalStatus: coding(
          SYSTEM.conditionClinical,
          spec.chronic ? 'active' : 'resolved',
          spec.chronic ? 'Active' : 'Resolved',
        ),
        verificationStatus: coding(SYSTEM.conditionVerification, 'confirmed', 'Confirmed'),
        category: [coding(SYSTEM.conditionCategory, 'problem-list-item', 'Problem List Item')],
        code: concept(spec.snomed, spec.icd10),
        subject: patient,
        onsetDateTime: day(onset),
        ...(spec.chronic ? {} : { abatementDateTime: day(onset + prng.int(60, 400) * MS.DAY) }),
        recordedDate: dt(recorded),
        recorder: pcp,
        asserter: pcp,
      },
      recorded + prng.int(1, 700) * MS.DAY,
      prng.int(1, 3),
    );
  });
  prng = section('acute');
  person.acuteProblems.forEach((name, i) => {
    const spec = PROBLEMS[name];
    const v = acuteVisitIndex(chart, i);
    const onset = v === undefined ? randomTime(chart.start, chart.epoch) : visitTime(v);
    add(
      {
        resourceType: 'Condition',
        id: acuteConditionId(chart, i),
        meta: { profile: [`${US_CORE}/us-core-condition`] },
        clinicalStatus: coding(SYSTEM.conditionClinical, 'resolved', 'Resolved'),
        verificationStatus: coding(SYSTEM.conditionVerification, 'confirmed', 'Confirmed'),
        category: [coding(SYSTEM.conditionCategory, 'encounter-diagnosis', 'Encounter Diagnosis')],
        code: concept(spec.snomed, spec.icd10),
        subject: patient,
        ...(v === undefined ? {} : { encounter: reference('Encounter', chart.id('Encounter', v)) }),
        onsetDateTime: dt(onset - prng.int(1, 4) * MS.DAY),
        abatementDateTime: day(onset + prng.int(7, 21) * MS.DAY),
        recordedDate: dt(onset),
        recorder: pcp,
      },
      onset + prng.int(2, 30) * MS.DAY,
      2,
    );
  });

  prng = section('medications');
  // Medications: current drugs (an active order and the one it renewed), past drugs stopped.
  const drugOrders: { drug: keyof typeof DRUGS; active: boolean; authored: number; n: number }[] =
    [];
  person.drugs.forEach((drug, n) => {
    drugOrders.push({
      drug,
      active: false,
      authored: randomTime(chart.start + span / 3, chart.epoch - 400 * MS.DAY),
      n,
    });
    drugOrders.push({
      drug,
      active: true,
      authored: randomTime(chart.epoch - 300 * MS.DAY, chart.epoch - 20 * MS.DAY),
      n,
    });
  });
  person.pastDrugs.forEach((drug, n) => {
    drugOrders.push({
      drug,
      active: false,
      authored: randomTime(chart.start, chart.start + span / 2),
      n: 100 + n,
    });
  });
  for (const order of drugOrders) {
    const spec = DRUGS[order.drug];
    // Some orders point at a Medication resource, others carry the code inline (both are US Core).
    const byReference = prng.chance(0.5);
    const medicationId = chart.id('Medication', order.drug, order.n, order.active ? 'a' : 'h');
    if (byReference) {
      add(
        {
          resourceType: 'Medication',
          id: medicationId,
          meta: { profile: [`${US_CORE}/us-core-medication`] },
          code: concept(spec.code),
          status: 'active',
          form: concept(spec.doseForm),
        },
        order.authored + MS.HOUR,
      );
    }
    const days = 90;
    add(
      {
        resourceType: 'MedicationRequest',
        id: chart.id('MedicationRequest', order.drug, order.n, order.active ? 'a' : 'h'),
        meta: { profile: [`${US_CORE}/us-core-medicationrequest`] },
        status: order.active ? 'active' : prng.pick(['completed', 'stopped']),
        intent: 'order',
        category: [coding(SYSTEM.medicationRequestCategory, 'community', 'Community')],
        reportedBoolean: false,
        ...(byReference
          ? { medicationReference: reference('Medication', medicationId, spec.code.display) }
          : { medicationCodeableConcept: concept(spec.code) }),
        subject: patient,
        authoredOn: dt(order.authored),
        requester: pcp,
        dosageInstruction: [
          {
            sequence: 1,
            text: spec.dosage,
            timing: { repeat: { frequency: spec.frequency, period: 1, periodUnit: 'd' } },
          },
        ],
        dispenseRequest: {
          validityPeriod: { start: day(order.authored), end: day(order.authored + 365 * MS.DAY) },
          numberOfRepeatsAllowed: prng.int(0, 3),
          quantity: {
            value: spec.quantity,
            unit: spec.doseForm.display,
            system: SYSTEM.snomed,
            code: spec.doseForm.code,
          },
          expectedSupplyDuration: { value: days, unit: 'days', system: SYSTEM.ucum, code: 'd' },
        },
      },
      order.authored + prng.int(1, 30) * MS.HOUR,
      order.active ? 1 : 2,
    );
  }

  prng = section('immunizations');
  // Immunizations: the CDC childhood schedule, or an adult's boosters; a flu shot every fall.
  const shots: [Vaccine, number][] = [];
  if (person.adult) {
    shots.push(['tdap', chart.start + prng.float(0.1, 0.4) * span]);
    shots.push(
      ['covid', Date.UTC(2021, 3, 10)],
      ['covid', Date.UTC(2021, 4, 2)],
      ['covid', Date.UTC(2022, 9, 20)],
    );
    if (ageAt(chart, chart.epoch) >= 50) {
      const first =
        Math.max(chart.start, chart.birth + 50.5 * MS.YEAR) + prng.int(30, 300) * MS.DAY;
      shots.push(['zoster', first], ['zoster', first + prng.int(65, 150) * MS.DAY]);
    }
    if (ageAt(chart, chart.epoch) >= 65) shots.push(['pneumococcal', chart.birth + 65.2 * MS.YEAR]);
  } else {
    for (const [vaccine, months] of CHILD_SCHEDULE) {
      shots.push([vaccine, chart.birth + (months * MS.YEAR) / 12 + prng.int(0, 20) * MS.DAY]);
    }
  }
  const firstFlu = new Date(Math.max(chart.start, chart.birth + 0.5 * MS.YEAR)).getUTCFullYear();
  for (let year = firstFlu; year <= new Date(chart.epoch).getUTCFullYear(); year++) {
    shots.push(['influenza', Date.UTC(year, 9, 1) + prng.int(0, 40) * MS.DAY]);
  }
  shots
    .filter(([, t]) => t >= chart.birth && t < chart.epoch - MS.DAY)
    .sort((a, b) => a[1] - b[1])
    .forEach(([vaccine, t], i) => {
      const when = clinicTime(chart, t, prng.int(0, 35));
      add(
        {
          resourceType: 'Immunization',
          id: chart.id('Immunization', vaccine, i),
          meta: { profile: [`${US_CORE}/us-core-immunization`] },
          status: 'completed',
          vaccineCode: concept(VACCINES[vaccine].cvx),
          patient,
          occurrenceDateTime: dt(when),
          recorded: dt(when),
          primarySource: true,
          location: reference('Location', refs.locationId, refs.locationName),
          lotNumber: `${String.fromCharCode(65 + prng.int(0, 25))}${prng.int(1000, 99999)}`,
          expirationDate: day(when + prng.int(120, 700) * MS.DAY),
          site: coding(
            'http://terminology.hl7.org/CodeSystem/v3-ActSite',
            prng.pick(['LA', 'RA', 'LT', 'RT']),
            undefined,
          ),
          route: coding(
            'http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration',
            'IM',
            'Injection, intramuscular',
          ),
          doseQuantity: { value: 0.5, unit: 'mL', system: SYSTEM.ucum, code: 'mL' },
          performer: [{ actor: nurse }],
        },
        when + prng.int(1, 72) * MS.HOUR,
      );
    });

  prng = section('goals');
  // Goals, care plans (US Core CarePlan: category assess-plan, a narrative) and care teams.
  const goalIds: string[] = [];
  for (const [i, goal] of goalsOf(person.problems).entries()) {
    const startTime = randomTime(chart.start + span / 3, chart.epoch - 200 * MS.DAY);
    const id = chart.id('Goal', i);
    goalIds.push(id);
    add(
      {
        resourceType: 'Goal',
        id,
        meta: { profile: [`${US_CORE}/us-core-goal`] },
        lifecycleStatus: i === 0 || prng.chance(0.6) ? 'active' : 'completed',
        achievementStatus: coding(
          SYSTEM.goalAchievement,
          prng.pick(['in-progress', 'improving', 'sustaining']),
          undefined,
        ),
        description: { text: goal.text },
        subject: patient,
        startDate: day(startTime),
        target: [
          {
            ...(goal.measure ? { measure: concept(goal.measure) } : {}),
            ...(goal.detail ? { detailQuantity: goal.detail } : { detailString: goal.text }),
            dueDate: day(startTime + prng.int(180, 540) * MS.DAY),
          },
        ],
        expressedBy: pcp,
        addresses: conditionIds.slice(i, i + 1).map((c) => reference('Condition', c)),
      },
      startTime + prng.int(1, 120) * MS.DAY,
      prng.int(1, 2),
    );
  }
  prng = section('careplans');
  for (let i = 0; i < 2; i++) {
    const active = i === 0;
    const begin = active
      ? randomTime(chart.epoch - 300 * MS.DAY, chart.epoch - 60 * MS.DAY)
      : randomTime(chart.start, chart.start + span / 2);
    const problems = person.problems.map((p) => PROBLEMS[p].snomed.display.toLowerCase());
    const summary = active
      ? `Assessment: ${problems.join(', ') || 'well child'}. Plan: continue current medications, follow up in 3 months, labs before next visit.`
      : 'Assessment: annual review. Plan: diet and exercise counselling, age-appropriate screening completed.';
    add(
      {
        resourceType: 'CarePlan',
        id: chart.id('CarePlan', i),
        meta: { profile: [`${US_CORE}/us-core-careplan`] },
        text: {
          status: 'additional',
          div: `<div xmlns="http://www.w3.org/1999/xhtml"><p>${escapeXml(summary)}</p></div>`,
        },
        status: active ? 'active' : 'completed',
        intent: 'plan',
        category: [
          coding(SYSTEM.carePlanCategory, 'assess-plan', 'Assessment and Plan of Treatment'),
        ],
        title: active ? 'Chronic care plan' : 'Annual wellness plan',
        subject: patient,
        period: active ? { start: dt(begin) } : { start: dt(begin), end: dt(begin + 365 * MS.DAY) },
        created: dt(begin),
        author: pcp,
        careTeam: [reference('CareTeam', chart.id('CareTeam', i))],
        addresses: active ? conditionIds.map((c) => reference('Condition', c)) : [],
        goal: active ? goalIds.map((g) => reference('Goal', g)) : [],
      },
      begin + prng.int(1, 40) * MS.DAY,
      active ? 2 : 1,
    );
  }
  prng = section('careteams');
  const teamRoles = {
    pcp: { system: SYSTEM.snomed, code: '446050000', display: 'Primary care physician' },
    nurse: { system: SYSTEM.snomed, code: '224535009', display: 'Registered nurse' },
    np: { system: SYSTEM.snomed, code: '224571005', display: 'Nurse practitioner' },
    cardio: { system: SYSTEM.snomed, code: '17561000', display: 'Cardiologist' },
    patient: { system: SYSTEM.snomed, code: '116154003', display: 'Patient' },
  };
  for (let i = 0; i < 2; i++) {
    const active = i === 0;
    const since = active ? chart.epoch - prng.int(200, 700) * MS.DAY : chart.start;
    const member = (role: keyof typeof teamRoles, who: Reference) => ({
      role: [concept(teamRoles[role])],
      member: who,
      onBehalfOf: org,
    });
    const staff = refs.staff;
    add(
      {
        resourceType: 'CareTeam',
        id: chart.id('CareTeam', i),
        meta: { profile: [`${US_CORE}/us-core-careteam`] },
        status: active ? 'active' : 'inactive',
        name: active ? 'Primary care team' : 'Previous care team',
        subject: patient,
        period: active ? { start: dt(since) } : { start: dt(since), end: dt(since + 2 * MS.YEAR) },
        participant: [
          member('pcp', pcp),
          member('nurse', reference('Practitioner', staff.nurse.id, staff.nurse.display)),
          active
            ? member(
                'np',
                reference(
                  'Practitioner',
                  staff.nursePractitioner.id,
                  staff.nursePractitioner.display,
                ),
              )
            : member(
                'cardio',
                reference('Practitioner', staff.cardiologist.id, staff.cardiologist.display),
              ),
          { role: [concept(teamRoles.patient)], member: patient },
        ],
        managingOrganization: [org],
      },
      since + prng.int(1, 30) * MS.DAY,
      active ? prng.int(1, 4) : 1,
    );
  }

  prng = section('devices');
  // Implanted devices (US Core Implantable Device: UDI carrier).
  person.devices.forEach((kind, i) => {
    const implanted = randomTime(chart.start, chart.epoch - 300 * MS.DAY);
    const di = `00${prng.int(100000000, 999999999)}${prng.int(100, 999)}`;
    const lot = `${String.fromCharCode(65 + prng.int(0, 25))}${prng.int(10000, 99999)}`;
    const serial = `SN${prng.int(1000000, 9999999)}`;
    const manufactured = implanted - prng.int(60, 400) * MS.DAY;
    const expires = implanted + prng.int(700, 2000) * MS.DAY;
    const yymmdd = (t: number) => day(t).slice(2).replaceAll('-', '');
    add(
      {
        resourceType: 'Device',
        id: chart.id('Device', kind, i),
        meta: { profile: [`${US_CORE}/us-core-implantable-device`] },
        udiCarrier: [
          {
            deviceIdentifier: di,
            carrierHRF: `(01)${di}(11)${yymmdd(manufactured)}(17)${yymmdd(expires)}(10)${lot}(21)${serial}`,
          },
        ],
        status: 'active',
        distinctIdentifier: serial,
        manufactureDate: day(manufactured),
        expirationDate: day(expires),
        lotNumber: lot,
        serialNumber: serial,
        type: concept(DEVICES[kind]),
        patient,
      },
      implanted + prng.int(1, 10) * MS.DAY,
    );
  });
  return out;
}

function patientResource(chart: Chart, pcp: Reference, org: Reference): FhirResource {
  const { person } = chart;
  const prng = createPrng(chart.seed, chart.practice.code, person.username, 'patient');
  const ext = 'http://hl7.org/fhir/us/core/StructureDefinition';
  const omb = (url: string, c: { code: string; display: string }) => ({
    url: `${ext}/${url}`,
    extension: [
      { url: 'ombCategory', valueCoding: { system: SYSTEM.omb, code: c.code, display: c.display } },
      { url: 'text', valueString: c.display },
    ],
  });
  const fullName = [...person.given, person.family].join(' ');
  return {
    resourceType: 'Patient',
    id: chart.patientId,
    meta: { profile: [`${US_CORE}/us-core-patient`] },
    extension: [
      omb('us-core-race', person.race),
      omb('us-core-ethnicity', person.ethnicity),
      { url: `${ext}/us-core-birthsex`, valueCode: person.gender === 'female' ? 'F' : 'M' },
    ],
    identifier: [
      {
        use: 'usual',
        type: concept({ system: SYSTEM.v2_0203, code: 'MR', display: 'Medical Record Number' }),
        system: `urn:oid:2.16.840.1.113883.3.564.${1000 + prng.int(0, 8999)}`,
        value: String(prng.int(10000, 999999)),
      },
    ],
    active: true,
    name: [
      { use: 'official', text: fullName, family: person.family, given: person.given },
      ...(person.maidenName
        ? [
            {
              use: 'old',
              family: person.maidenName,
              given: person.given,
              period: { end: '1995-06-17' },
            },
          ]
        : []),
    ],
    telecom: [
      { system: 'phone', value: person.phone, use: 'home', rank: 1 },
      {
        system: 'phone',
        value: person.phone.replace(/\d{2}$/, (d) =>
          String((Number(d) + 7) % 100).padStart(2, '0'),
        ),
        use: 'mobile',
        rank: 2,
      },
      ...(person.email ? [{ system: 'email', value: person.email }] : []),
    ],
    gender: person.gender,
    birthDate: person.birthDate,
    address: [
      {
        use: 'home',
        type: 'physical',
        line: person.address.line,
        city: person.address.city,
        state: person.address.state,
        postalCode: person.address.postalCode,
        country: 'US',
        period: { start: formatDate(chart.start, chart.zone) },
      },
    ],
    ...(person.maritalStatus
      ? { maritalStatus: concept({ system: SYSTEM.v3MaritalStatus, ...person.maritalStatus }) }
      : {}),
    ...(person.guardian
      ? {
          contact: [
            {
              relationship: [
                concept({
                  system: 'http://terminology.hl7.org/CodeSystem/v2-0131',
                  code: 'N',
                  display: 'Next-of-Kin',
                }),
              ],
              name: { family: person.guardian.family, given: [person.guardian.given] },
              telecom: [{ system: 'phone', value: person.guardian.phone, use: 'mobile' }],
            },
          ],
        }
      : {}),
    communication: [
      {
        language: concept({
          system: SYSTEM.bcp47,
          code: person.language.code,
          display: person.language.display,
        }),
        preferred: true,
      },
    ],
    generalPractitioner: [pcp],
    managingOrganization: org,
  };
}

interface GoalSpec {
  text: string;
  measure?: { system: string; code: string; display: string };
  detail?: { value: number; comparator: string; unit: string; system: string; code: string };
}

function goalsOf(problems: readonly Problem[]): GoalSpec[] {
  const goals: GoalSpec[] = [];
  const has = (p: Problem) => problems.includes(p);
  if (has('diabetes2')) {
    goals.push({
      text: 'Hemoglobin A1c below 7.0%',
      measure: LABS.a1c.code,
      detail: { value: 7, comparator: '<', unit: '%', system: SYSTEM.ucum, code: '%' },
    });
  }
  if (has('hypertension')) {
    goals.push({
      text: 'Blood pressure below 130/80 mmHg',
      measure: { system: SYSTEM.loinc, code: '85354-9', display: 'Blood pressure panel' },
    });
  }
  if (has('hyperlipidemia')) {
    goals.push({
      text: 'LDL cholesterol below 100 mg/dL',
      measure: LABS.ldl.code,
      detail: { value: 100, comparator: '<', unit: 'mg/dL', system: SYSTEM.ucum, code: 'mg/dL' },
    });
  }
  if (has('obesity'))
    goals.push({ text: 'Lose 15 pounds through diet and walking 30 minutes a day' });
  if (has('asthma'))
    goals.push({ text: 'Asthma well controlled: rescue inhaler fewer than 2 days a week' });
  if (has('vitaminDDeficiency')) {
    goals.push({
      text: '25-hydroxyvitamin D above 30 ng/mL',
      measure: LABS.vitaminD.code,
      detail: { value: 30, comparator: '>', unit: 'ng/mL', system: SYSTEM.ucum, code: 'ng/mL' },
    });
  }
  if (goals.length === 0)
    goals.push({ text: 'Stay up to date with well visits and immunizations' });
  return goals.slice(0, 3);
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The visit where the i-th past acute problem was diagnosed (spread over the history). */
export function acuteVisitIndex(chart: Chart, i: number): number | undefined {
  const n = chart.person.acuteProblems.length;
  if (chart.visitCount === 0 || n === 0) return undefined;
  return Math.min(chart.visitCount - 1, Math.floor(((i + 0.5) / n) * chart.visitCount));
}

export function acuteConditionId(chart: Chart, i: number): string {
  return chart.id('Condition', 'acute', i);
}
