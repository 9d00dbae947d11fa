import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimQuirks } from '../context.ts';
import { DATA_EPOCH } from '../data/index.ts';
import {
  type FhirTestServer,
  rebase,
  startFhirTestServer,
  type TestResponse,
} from './fhir-server.test-helper.ts';

const ALL = ['patient/*.read'];
const FOREIGN = 'http://fhir4.eclinicalworks.com/fhir/r4/JAFJCD';
// biome-ignore lint/suspicious/noExplicitAny: bundles are inspected field by field
type Json = any;

let sim: FhirTestServer;
let defaults: SimQuirks;

beforeAll(async () => {
  sim = await startFhirTestServer();
  defaults = { ...sim.ctx.quirks };
});
afterAll(() => sim.close());
afterEach(() => {
  Object.assign(sim.ctx.quirks, defaults);
  sim.ctx.options.profile = 'healow';
});

function setQuirks(q: Partial<SimQuirks>) {
  Object.assign(sim.ctx.quirks, q);
}

/** The permissive reference server instead of healow (reset after each test). */
function generic() {
  sim.ctx.options.profile = 'generic';
}

const ids = (bundle: Json): string[] => (bundle.entry ?? []).map((e: Json) => e.resource.id);

/** Follows `next` links (rebased onto our base) to the end; returns every page. */
async function allPages(first: string, token: string): Promise<Json[]> {
  const pages: Json[] = [];
  let url: string | undefined = first;
  while (url) {
    const res = await sim.get(url, token);
    expect(res.status, res.text).toBe(200);
    pages.push(res.body);
    const next = res.body.link.find((l: Json) => l.relation === 'next')?.url;
    url = next ? rebase(next, sim.base()) : undefined;
    expect(pages.length).toBeLessThan(500);
  }
  return pages;
}

function expectOutcome(res: TestResponse, status: number, diagnostics?: RegExp) {
  expect(res.status, res.text).toBe(status);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(res.body.issue[0].severity).toBe('error');
  if (diagnostics) expect(res.body.issue[0].diagnostics).toMatch(diagnostics);
}

describe('bearer tokens', () => {
  it('401 with WWW-Authenticate when the token is missing, unknown or expired', async () => {
    const missing = await sim.get('/fhir/r4/JAFJCD/Patient');
    expectOutcome(missing, 401);
    expect(missing.headers.get('www-authenticate')).toBe(`Bearer realm="${sim.base()}"`);

    const unknown = await sim.get('/fhir/r4/JAFJCD/Patient', 'not-a-token');
    expectOutcome(unknown, 401);
    expect(unknown.headers.get('www-authenticate')).toMatch(
      /^Bearer realm=".*", error="invalid_token"/,
    );

    const basic = await sim.get('/fhir/r4/JAFJCD/Patient', undefined, {
      authorization: 'Basic abc',
    });
    expectOutcome(basic, 401);

    const token = sim.token('AdultFemaleFHIR', ALL, { lifetimeMs: 1000 });
    const me = `/fhir/r4/JAFJCD/Patient/${sim.patientId('AdultFemaleFHIR')}`;
    expect((await sim.get(me, token)).status).toBe(200);
    sim.clock.shift(1000);
    expectOutcome(await sim.get(me, token), 401);
  });

  it('a token of one practice does not open another', async () => {
    const token = sim.token('AdultFemaleFHIR', ALL, { practice: 'DEBIFC' });
    const id = sim.patientId('AdultFemaleFHIR', 'DEBIFC');
    expect((await sim.get(`/fhir/r4/DEBIFC/Patient/${id}`, token)).status).toBe(200);
    expectOutcome(await sim.get(`/fhir/r4/JAFJCD/Patient/${id}`, token), 401);
  });

  it('unknown and disabled practices answer with an OperationOutcome', async () => {
    const token = sim.token('AdultFemaleFHIR', ALL);
    expectOutcome(await sim.get('/fhir/r4/ZZZZZZ/Patient', token), 404, /Unknown practice/);
    expectOutcome(
      await sim.get('/fhir/r4/CDHJEB/Patient', token),
      403,
      /not enabled patient access/,
    );
  });
});

describe('only the token patient, only the granted scopes', () => {
  it('reads the own Patient, not another one; searches for another patient are refused', async () => {
    const me = sim.patientId('AdultFemaleFHIR');
    const other = sim.patientId('ChildMaleFHIR');
    const token = sim.token('AdultFemaleFHIR', ALL);
    const own = await sim.get(`/fhir/r4/JAFJCD/Patient/${me}`, token);
    expect(own.status).toBe(200);
    expect(own.body.name[0].family).toBe('Hernández');
    // healow: no versionId and so no ETag.
    expect(own.headers.get('etag')).toBeNull();
    expect(own.body.meta.versionId).toBeUndefined();
    expectOutcome(await sim.get(`/fhir/r4/JAFJCD/Patient/${other}`, token), 404);
    expectOutcome(
      await sim.get(`/fhir/r4/JAFJCD/Condition?patient=${other}`, token),
      403,
      /patient/,
    );
    expectOutcome(await sim.get(`/fhir/r4/JAFJCD/Condition?patient=Patient/${other}`, token), 403);
    const ok = await sim.get(`/fhir/r4/JAFJCD/Condition?patient=Patient/${me}`, token);
    expect(ok.status).toBe(200);

    // A resource id of another patient is unknown to this token.
    const theirs = sim.data.allResources('JAFJCD', other, { type: 'Condition' })[0];
    expectOutcome(await sim.get(`/fhir/r4/JAFJCD/Condition/${theirs?.id}`, token), 404);
    generic();
    const byId = await sim.get(`/fhir/r4/JAFJCD/Condition?_id=${theirs?.id}`, token);
    expect(byId.status).toBe(200);
    expect(byId.body.entry).toEqual([]);
  });

  it('enforces v1 and v2 scopes per type and interaction', async () => {
    const me = sim.patientId('AdultMaleFHIR');
    const conditionOnly = sim.token('AdultMaleFHIR', ['patient/Condition.read']);
    expect((await sim.get(`/fhir/r4/JAFJCD/Condition?patient=${me}`, conditionOnly)).status).toBe(
      200,
    );
    expectOutcome(
      await sim.get(`/fhir/r4/JAFJCD/Patient/${me}`, conditionOnly),
      403,
      /patient\/Patient\.read/,
    );
    expectOutcome(
      await sim.get(`/fhir/r4/JAFJCD/Observation?patient=${me}&category=laboratory`, conditionOnly),
      403,
    );

    const v2 = sim.token('AdultMaleFHIR', [
      'patient/Patient.rs',
      'patient/Condition.r',
      'patient/Goal.s',
    ]);
    expect((await sim.get(`/fhir/r4/JAFJCD/Patient/${me}`, v2)).status).toBe(200);
    setQuirks({ searchPatientById: 'accept' });
    expect((await sim.get(`/fhir/r4/JAFJCD/Patient?_id=${me}`, v2)).status).toBe(200);
    expectOutcome(await sim.get(`/fhir/r4/JAFJCD/Condition?patient=${me}`, v2), 403);
    const condition = sim.data.allResources('JAFJCD', me, { type: 'Condition' })[0];
    expect((await sim.get(`/fhir/r4/JAFJCD/Condition/${condition?.id}`, v2)).status).toBe(200);
    expect((await sim.get(`/fhir/r4/JAFJCD/Goal?patient=${me}`, v2)).status).toBe(200);
    const goal = sim.data.allResources('JAFJCD', me, { type: 'Goal' })[0];
    expectOutcome(await sim.get(`/fhir/r4/JAFJCD/Goal/${goal?.id}`, v2), 403);

    const writeOnly = sim.token('AdultMaleFHIR', [
      'patient/Patient.write',
      'patient/Patient.cud',
      'user/Patient.read',
    ]);
    expectOutcome(await sim.get(`/fhir/r4/JAFJCD/Patient/${me}`, writeOnly), 403);
  });

  it('honours v2 category-restricted Observation scopes', async () => {
    const me = sim.patientId('AdultMaleFHIR');
    const labsOnly = sim.token('AdultMaleFHIR', [
      'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory',
    ]);
    const labs = await sim.get(
      `/fhir/r4/JAFJCD/Observation?patient=${me}&category=laboratory`,
      labsOnly,
    );
    expect(labs.status).toBe(200);
    expect(labs.body.entry.length).toBeGreaterThan(0);
    expectOutcome(
      await sim.get(`/fhir/r4/JAFJCD/Observation?patient=${me}&category=vital-signs`, labsOnly),
      403,
      /category/,
    );

    generic();
    const unfiltered = await sim.get(
      `/fhir/r4/JAFJCD/Observation?patient=${me}&_count=200`,
      labsOnly,
    );
    const cats = new Set(
      unfiltered.body.entry.map((e: Json) => e.resource.category[0].coding[0].code),
    );
    expect([...cats]).toEqual(['laboratory']);

    const all = sim.data.allResources('JAFJCD', me, { type: 'Observation' }) as Json[];
    const vital = all.find((o) => o.category[0].coding[0].code === 'vital-signs');
    const lab = all.find((o) => o.category[0].coding[0].code === 'laboratory');
    expectOutcome(await sim.get(`/fhir/r4/JAFJCD/Observation/${vital.id}`, labsOnly), 403);
    expect((await sim.get(`/fhir/r4/JAFJCD/Observation/${lab.id}`, labsOnly)).status).toBe(200);
  });
});

describe("healow's quirks, each a switch", () => {
  const me = () => sim.patientId('AdultFemaleFHIR');

  it('Observation without category: 400 with healow diagnostics, served by the generic profile', async () => {
    const token = sim.token('AdultFemaleFHIR', ALL);
    const res = await sim.get(`/fhir/r4/JAFJCD/Observation?patient=${me()}&_count=10`, token);
    expectOutcome(res, 400);
    expect(res.body.issue[0].code).toBe('processing');
    expect(res.body.issue[0].diagnostics).toBe(
      'Invalid request: Does not know how to handle get operation with parameter [patient,_count]',
    );
    expect(
      (await sim.get(`/fhir/r4/JAFJCD/Observation?patient=${me()}&category=vital-signs`, token))
        .status,
    ).toBe(200);
    generic();
    const off = await sim.get(`/fhir/r4/JAFJCD/Observation?patient=${me()}&_count=10`, token);
    expect(off.status).toBe(200);
    expect(off.body.entry).toHaveLength(10);
  });

  it('CarePlan needs category and CareTeam needs status, except in the generic profile', async () => {
    const token = sim.token('AdultFemaleFHIR', ALL);
    expectOutcome(
      await sim.get(`/fhir/r4/JAFJCD/CarePlan?patient=${me()}`, token),
      400,
      /\[patient\]$/,
    );
    expectOutcome(await sim.get(`/fhir/r4/JAFJCD/CareTeam?patient=${me()}`, token), 400);
    const plans = await sim.get(
      `/fhir/r4/JAFJCD/CarePlan?patient=${me()}&category=assess-plan`,
      token,
    );
    expect(ids(plans.body)).toHaveLength(2);
    const active = await sim.get(`/fhir/r4/JAFJCD/CareTeam?patient=${me()}&status=active`, token);
    expect(active.body.entry.map((e: Json) => e.resource.status)).toEqual(['active']);
    const both = await sim.get(
      `/fhir/r4/JAFJCD/CareTeam?patient=${me()}&status=active,inactive`,
      token,
    );
    expect(ids(both.body)).toHaveLength(2);
    generic();
    expect(
      ids((await sim.get(`/fhir/r4/JAFJCD/CarePlan?patient=${me()}`, token)).body),
    ).toHaveLength(2);
    expect(
      ids((await sim.get(`/fhir/r4/JAFJCD/CareTeam?patient=${me()}`, token)).body),
    ).toHaveLength(2);
  });

  it('an empty searchset has no entry (or an empty one when off)', async () => {
    const token = sim.token('AdultFemaleFHIR', ALL);
    const url = `/fhir/r4/JAFJCD/Coverage?patient=${me()}`;
    const on = await sim.get(url, token);
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    expect('entry' in on.body).toBe(false);
    // healow's empty result: total is the _count asked (50 by default, here 7).
    expect(on.body.total).toBe(50);
    expect((await sim.get(`${url}&_count=7`, token)).body.total).toBe(7);
    setQuirks({ emptyBundleWithoutEntry: false, wrongBundleTotal: false });
    const off = await sim.get(url, token);
    expect(off.body.entry).toEqual([]);
    expect(off.body.total).toBe(0);
    setQuirks({ emptyBundleWithoutEntry: true, wrongBundleTotal: true });
    generic();
    const plain = await sim.get(url, token);
    expect(plain.body.entry).toEqual([]);
    expect(plain.body.total).toBe(0);
  });

  it('Bundle.total is the true count whenever there are entries, on every page', async () => {
    const token = sim.token('AdultFemaleFHIR', ALL);
    const truth = sim.data.allResources('JAFJCD', me(), { type: 'Condition' }).length;
    const all = await sim.get(`/fhir/r4/JAFJCD/Condition?patient=${me()}`, token);
    expect(ids(all.body)).toHaveLength(truth);
    expect(all.body.total).toBe(truth);
    const paged = await sim.get(`/fhir/r4/JAFJCD/Condition?patient=${me()}&_count=2`, token);
    expect(paged.body.total).toBe(truth);
    const next = paged.body.link.find((l: Json) => l.relation === 'next').url;
    expect((await sim.get(rebase(next, sim.base()), token)).body.total).toBe(truth);
  });

  it('links and fullUrls on plain-http healow, or on this server when off', async () => {
    const token = sim.token('AdultFemaleFHIR', ALL);
    const url = `/fhir/r4/JAFJCD/Encounter?patient=${me()}&_count=5`;
    const on = (await sim.get(url, token)).body;
    expect(on.entry[0].fullUrl).toBe(`${FOREIGN}/Encounter/${on.entry[0].resource.id}`);
    // healow's own order: parameters sorted by name, whatever order the request used.
    expect(on.link.find((l: Json) => l.relation === 'self').url).toBe(
      `${FOREIGN}/Encounter?_count=5&patient=${me()}`,
    );
    expect(on.link.find((l: Json) => l.relation === 'next').url).toMatch(
      new RegExp(`^${FOREIGN}\\?_getpages=`),
    );
    setQuirks({ foreignLinks: false });
    const off = (await sim.get(url, token)).body;
    expect(off.entry[0].fullUrl).toBe(`${sim.base()}/Encounter/${off.entry[0].resource.id}`);
    const next = off.link.find((l: Json) => l.relation === 'next').url;
    expect(next.startsWith(`${sim.base()}?_getpages=`)).toBe(true);
    // The link works as given when it points here.
    expect((await sim.get(next, token)).status).toBe(200);
  });

  it('application/json+fhir;charset=UTF-8, or the standard type when off', async () => {
    const token = sim.token('AdultFemaleFHIR', ALL);
    const on = await sim.get(`/fhir/r4/JAFJCD/Patient/${me()}`, token);
    expect(on.headers.get('content-type')).toBe('application/json+fhir;charset=UTF-8');
    const error = await sim.get('/fhir/r4/JAFJCD/Patient');
    expect(error.headers.get('content-type')).toBe('application/json+fhir;charset=UTF-8');
    setQuirks({ legacyContentType: false });
    const off = await sim.get(`/fhir/r4/JAFJCD/Patient/${me()}`, token);
    expect(off.headers.get('content-type')).toBe('application/fhir+json;charset=utf-8');
  });

  it('sends no CORS headers, and an OPTIONS preflight fails', async () => {
    const token = sim.token('AdultFemaleFHIR', ALL);
    const res = await sim.get(`/fhir/r4/JAFJCD/Patient/${me()}`, token, {
      origin: 'https://app.example',
    });
    const names: string[] = [];
    res.headers.forEach((_value, name) => {
      names.push(name);
    });
    expect(names.filter((k) => k.startsWith('access-control-'))).toEqual([]);
    const preflight = await fetch(`${sim.base()}/Patient/${me()}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    });
    expect(preflight.ok).toBe(false);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('Binary and documents', () => {
  it('reads Binary as JSON with base64 data; attachment URLs are absolute or relative', async () => {
    const me = sim.patientId('AdultFemaleFHIR');
    const token = sim.token('AdultFemaleFHIR', [
      'patient/DocumentReference.read',
      'patient/Binary.read',
    ]);
    const docs = await allPages(`/fhir/r4/JAFJCD/DocumentReference?patient=${me}`, token);
    const urls: string[] = docs.flatMap((b) =>
      b.entry.map((e: Json) => e.resource.content[0].attachment.url),
    );
    expect(urls.some((u) => u.startsWith('Binary/'))).toBe(true);
    expect(urls.some((u) => u.startsWith(`${FOREIGN}/Binary/`))).toBe(true);
    const doc = docs[0].entry[0].resource;
    const binaryUrl = doc.content[0].attachment.url as string;
    const res = await sim.get(
      binaryUrl.startsWith('http') ? rebase(binaryUrl, sim.base()) : `${sim.base()}/${binaryUrl}`,
      token,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json+fhir;charset=UTF-8');
    expect(res.body.resourceType).toBe('Binary');
    expect(res.body.contentType).toBe(doc.content[0].attachment.contentType);
    expect(Buffer.from(res.body.data, 'base64').length).toBe(doc.content[0].attachment.size);
    expectOutcome(await sim.get(`/fhir/r4/JAFJCD/Binary?patient=${me}`, token), 400);
  });
});

describe('search parameters', () => {
  const me = () => sim.patientId('ChildFemaleFHIR');
  const token = () => sim.token('ChildFemaleFHIR', ALL);

  it('Observation code, date prefixes and category', async () => {
    const t = token();
    const truth = (sim.data.allResources('JAFJCD', me(), { type: 'Observation' }) as Json[]).filter(
      (o) => o.code.coding[0].code === '29463-7',
    );
    const weights = await allPages(
      `/fhir/r4/JAFJCD/Observation?patient=${me()}&category=vital-signs&code=http://loinc.org|29463-7`,
      t,
    );
    expect(weights.flatMap(ids).sort()).toEqual(truth.map((o) => o.id).sort());
    const inYear = truth.filter((o) => o.effectiveDateTime.startsWith('2020'));
    const ranged = await allPages(
      `/fhir/r4/JAFJCD/Observation?patient=${me()}&category=vital-signs&code=29463-7&date=ge2020-01-01&date=lt2021-01-01`,
      t,
    );
    expect(ranged.flatMap(ids).sort()).toEqual(inYear.map((o) => o.id).sort());
    const eqYear = await allPages(
      `/fhir/r4/JAFJCD/Observation?patient=${me()}&category=vital-signs&code=29463-7&date=2020`,
      t,
    );
    expect(eqYear.flatMap(ids).sort()).toEqual(inYear.map((o) => o.id).sort());
    const both = await sim.get(
      `/fhir/r4/JAFJCD/Observation?patient=${me()}&category=laboratory,social-history&_count=200`,
      t,
    );
    const cats = new Set(both.body.entry.map((e: Json) => e.resource.category[0].coding[0].code));
    expect([...cats].sort()).toEqual(['laboratory', 'social-history']);
  });

  it('rejects malformed values with an OperationOutcome', async () => {
    const t = token();
    const base = `/fhir/r4/JAFJCD/Observation?patient=${me()}&category=vital-signs`;
    expectOutcome(await sim.get(`${base}&date=ge-tomorrow`, t), 400, /date/);
    expectOutcome(await sim.get(`${base}&_lastUpdated=gt2024-99`, t), 400);
    expectOutcome(await sim.get(`${base}&_count=ten`, t), 400, /_count/);
    expectOutcome(await sim.get(`${base}&code:text=weight`, t), 400, /modifier/);
    expectOutcome(await sim.get('/fhir/r4/JAFJCD/Foo', t), 404, /Unknown resource type/);
    expectOutcome(await sim.get('/fhir/r4/JAFJCD/Foo/123', t), 404);
    expectOutcome(await sim.get('/fhir/r4/JAFJCD?_getpages=garbage', t), 410);
    expectOutcome(await sim.get('/fhir/r4/JAFJCD', t), 400);
    const post = await fetch(`${sim.base()}/Patient`, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` },
    });
    expect(post.status).toBe(405);
    expect(((await post.json()) as Json).resourceType).toBe('OperationOutcome');
  });
});

describe('paging', () => {
  it('pages to the end with next links: every match once, _count clamped, default size', async () => {
    const me = sim.patientId('AdultMaleFHIR');
    const token = sim.token('AdultMaleFHIR', ALL);
    const truth = (sim.data.allResources('JAFJCD', me, { type: 'Observation' }) as Json[])
      .filter((o) => o.category[0].coding[0].code === 'vital-signs')
      .map((o) => o.id);
    const pages = await allPages(
      `/fhir/r4/JAFJCD/Observation?patient=${me}&category=vital-signs&_count=37`,
      token,
    );
    const served = pages.flatMap(ids);
    expect(served).toEqual(truth);
    expect(pages.slice(0, -1).every((p) => p.entry.length === 37)).toBe(true);
    expect(pages.at(-1).link.some((l: Json) => l.relation === 'next')).toBe(false);

    const clamped = await sim.get(
      `/fhir/r4/JAFJCD/Observation?patient=${me}&category=vital-signs&_count=5000`,
      token,
    );
    expect(clamped.body.entry).toHaveLength(200);
    const byDefault = await sim.get(
      `/fhir/r4/JAFJCD/Observation?patient=${me}&category=vital-signs`,
      token,
    );
    expect(byDefault.body.entry).toHaveLength(50);
    const nextOfDefault = byDefault.body.link.find((l: Json) => l.relation === 'next').url;
    expect(new URL(nextOfDefault).searchParams.get('_getpagesoffset')).toBe('50');
  });

  it("stays stable while data is added, and refuses another patient's cursor", async () => {
    const me = sim.patientId('AdultMaleFHIR');
    const token = sim.token('AdultMaleFHIR', ALL);
    const first = await sim.get(`/fhir/r4/JAFJCD/Encounter?patient=${me}&_count=10`, token);
    const before = sim.data.allResources('JAFJCD', me, { type: 'Encounter' }).map((r) => r.id);
    const added = sim.data.addResource('JAFJCD', me, {
      resourceType: 'Encounter',
      status: 'finished',
      class: { code: 'AMB' },
      subject: { reference: `Patient/${me}` },
    });
    const next = first.body.link.find((l: Json) => l.relation === 'next').url;
    const rest = await allPages(rebase(next, sim.base()), token);
    const served = [...ids(first.body), ...rest.flatMap(ids)];
    expect(served).toEqual([...before, added.id]);

    const thief = sim.token('AdultFemaleFHIR', ALL);
    expectOutcome(await sim.get(rebase(next, sim.base()), thief), 403);
  });

  it('pages through a 5,000-resource patient quickly', async () => {
    const big = await startFhirTestServer({ resourcesPerPatient: 5000, seed: 'big' });
    try {
      const me = big.patientId('AdultFemaleFHIR');
      const token = big.token('AdultFemaleFHIR', ALL);
      let url: string | undefined =
        `/fhir/r4/JAFJCD/Observation?patient=${me}&category=vital-signs&_count=200`;
      let n = 0;
      const started = performance.now();
      while (url) {
        const res = await big.get(url, token);
        n += res.body.entry.length;
        const next = res.body.link.find((l: Json) => l.relation === 'next')?.url;
        url = next ? rebase(next, big.base()) : undefined;
      }
      const truth = (big.data.allResources('JAFJCD', me, { type: 'Observation' }) as Json[]).filter(
        (o) => o.category[0].coding[0].code === 'vital-signs',
      );
      expect(n).toBe(truth.length);
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      await big.close();
    }
  });
});

describe('incremental sync: _lastUpdated and _since, with admin changes', () => {
  it('finds what changed after a point in time (where _lastUpdated is accepted)', async () => {
    generic();
    const me = sim.patientId('ChildMaleFHIR');
    const checkpoint = '2026-03-02T00:00:00Z';
    sim.clock.set(Date.UTC(2026, 2, 3, 9, 30));
    const token = sim.token('ChildMaleFHIR', ALL);
    const condition = sim.data.allResources('JAFJCD', me, { type: 'Condition' })[0] as Json;
    const changed = await sim.admin(
      'PATCH',
      `/data/JAFJCD/ChildMaleFHIR/resources/Condition/${condition.id}`,
      {
        note: [{ text: 'reviewed' }],
      },
    );
    expect(changed.status).toBe(200);
    expect(changed.body.meta.versionId).toBe(String(Number(condition.meta.versionId) + 1));
    expect(changed.body.meta.lastUpdated).toBe('2026-03-03T04:30:00.000-05:00');
    expect(changed.body.note).toEqual([{ text: 'reviewed' }]);

    for (const query of [
      `_lastUpdated=gt${checkpoint}`,
      `_since=${checkpoint}`,
      `_lastUpdated=ge2026-03-03`,
    ]) {
      const res = await sim.get(`/fhir/r4/JAFJCD/Condition?patient=${me}&${query}`, token);
      expect(ids(res.body), query).toEqual([condition.id]);
    }
    const older = await sim.get(
      `/fhir/r4/JAFJCD/Condition?patient=${me}&_lastUpdated=lt${checkpoint}`,
      token,
    );
    expect(ids(older.body)).not.toContain(condition.id);
    expect(ids(older.body).length).toBe(
      sim.data.allResources('JAFJCD', me, { type: 'Condition' }).length - 1,
    );
    const all = await sim.get(
      `/fhir/r4/JAFJCD/Condition?patient=${me}&_lastUpdated=le${new Date(DATA_EPOCH).toISOString()}`,
      token,
    );
    expect(ids(all.body)).toHaveLength(ids(older.body).length);
    const read = await sim.get(`/fhir/r4/JAFJCD/Condition/${condition.id}`, token);
    expect(read.body.meta).toEqual(changed.body.meta);
    expect(read.headers.get('etag')).toBe(`W/"${changed.body.meta.versionId}"`);
  });
});
