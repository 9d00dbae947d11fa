import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimQuirks } from '../context.ts';
import { ECW_OBSERVATION_CATEGORY } from '../data/visits.ts';
import { type FhirTestServer, rebase, startFhirTestServer } from './fhir-server.test-helper.ts';

// biome-ignore lint/suspicious/noExplicitAny: bodies are inspected field by field
type Json = any;

const ALL = ['patient/*.read'];
const FOREIGN = 'http://fhir4.eclinicalworks.com/fhir/r4/JAFJCD';
/** The observation categories US Core 3.1.1 uses: what a per-category client searches. */
const US_CORE_CATEGORIES = [
  'laboratory',
  'vital-signs',
  'social-history',
  'survey',
  'exam',
  'imaging',
  'procedure',
  'therapy',
  'activity',
];

let sim: FhirTestServer;
let defaults: SimQuirks;
beforeAll(async () => {
  sim = await startFhirTestServer({ seed: 'healow-shape' });
  defaults = { ...sim.ctx.quirks };
});
afterAll(() => sim.close());
afterEach(() => {
  Object.assign(sim.ctx.quirks, defaults);
  sim.ctx.options.profile = 'healow';
});

const me = () => sim.patientId('AdultFemaleFHIR');
const token = () => sim.token('AdultFemaleFHIR', ALL);
const ids = (bundle: Json): string[] => (bundle.entry ?? []).map((e: Json) => e.resource.id);

/** healow's answer to a parameter set it has no method for. */
function refusal(names: string) {
  const diagnostics = `Invalid request: Does not know how to handle get operation with parameter [${names}]`;
  return {
    resourceType: 'OperationOutcome',
    text: {
      status: 'generated',
      div:
        '<div xmlns="http://www.w3.org/1999/xhtml"><h1>Operation Outcome</h1><table border="0"><tr>' +
        '<td style="font-weight: bold;">ERROR</td><td>[]</td>' +
        `<td><pre>${diagnostics}</pre></td>\n\t\t\t\t\t\n\t\t\t\t\n\t\t\t</tr>\n\t\t</table>\n\t</div>`,
    },
    issue: [{ severity: 'error', code: 'processing', diagnostics }],
  };
}

describe('a HAPI plain server: declared parameter sets only', () => {
  it("refuses an unknown parameter with healow's OperationOutcome, names in the order sent", async () => {
    const res = await sim.get(`/fhir/r4/JAFJCD/Condition?foo=bar&patient=${me()}`, token());
    expect(res.status).toBe(400);
    expect(res.body).toEqual(refusal('foo,patient'));
    const observation = await sim.get(
      `/fhir/r4/JAFJCD/Observation?_count=50&patient=${me()}`,
      token(),
    );
    expect(observation.status).toBe(400);
    expect(observation.body).toEqual(refusal('_count,patient'));
  });

  it('refuses _lastUpdated by default, accepts it by the switch', async () => {
    const url = `/fhir/r4/JAFJCD/Condition?patient=${me()}&_lastUpdated=gt2020-01-01`;
    const refused = await sim.get(url, token());
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual(refusal('patient,_lastUpdated'));
    Object.assign(sim.ctx.quirks, { searchLastUpdated: 'accept' });
    expect((await sim.get(url, token())).status).toBe(200);
  });

  it('refuses Patient?_id by default (the read works), accepts it by the switch', async () => {
    const url = `/fhir/r4/JAFJCD/Patient?_id=${me()}`;
    const refused = await sim.get(url, token());
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual(refusal('_id'));
    expect((await sim.get(`/fhir/r4/JAFJCD/Patient/${me()}`, token())).status).toBe(200);
    Object.assign(sim.ctx.quirks, { searchPatientById: 'accept' });
    const accepted = await sim.get(url, token());
    expect(accepted.status).toBe(200);
    expect(ids(accepted.body)).toEqual([me()]);
  });

  it('refuses _include and _revinclude by default; accepted, they add the referenced resources', async () => {
    const include = `/fhir/r4/JAFJCD/DiagnosticReport?patient=${me()}&_count=1&_include=DiagnosticReport:result`;
    expect((await sim.get(include, token())).body).toEqual(refusal('patient,_count,_include'));
    const revinclude = `/fhir/r4/JAFJCD/DocumentReference?patient=${me()}&_count=1&_revinclude=Provenance:target`;
    expect((await sim.get(revinclude, token())).status).toBe(400);

    Object.assign(sim.ctx.quirks, { searchInclude: 'accept' });
    const reports = (await sim.get(include, token())).body;
    const report = reports.entry[0].resource;
    const included = reports.entry.filter((e: Json) => e.search.mode === 'include');
    expect(included.map((e: Json) => `Observation/${e.resource.id}`)).toEqual(
      report.result.map((r: Json) => r.reference),
    );
    const docs = (await sim.get(revinclude, token())).body;
    const doc = docs.entry[0].resource;
    const provenance = docs.entry.filter((e: Json) => e.search.mode === 'include');
    expect(provenance).toHaveLength(1);
    expect(provenance[0].resource.target[0].reference).toBe(`DocumentReference/${doc.id}`);
  });
});

describe("healow's answer shape", () => {
  it('pretty-prints with two spaces, sends no versionId and no ETag, but Last-Modified', async () => {
    const read = await sim.get(`/fhir/r4/JAFJCD/Patient/${me()}`, token());
    expect(read.text.startsWith('{\n  "resourceType": "Patient",\n  "id": ')).toBe(true);
    expect(read.body.meta.versionId).toBeUndefined();
    expect(read.headers.get('etag')).toBeNull();
    expect(read.headers.get('last-modified')).toBe(
      new Date(read.body.meta.lastUpdated).toUTCString(),
    );
    expect(read.headers.get('content-location')).toBe(`/r4/*/JAFJCD/Patient/${me()}`);
    const search = await sim.get(`/fhir/r4/JAFJCD/Condition?patient=${me()}`, token());
    expect(search.text.startsWith('{\n  "resourceType": "Bundle",')).toBe(true);
    expect(search.headers.get('last-modified')).toBe(new Date(sim.clock.now()).toUTCString());
    expect(search.body.entry.every((e: Json) => e.resource.meta.versionId === undefined)).toBe(
      true,
    );
  });

  it('puts a generated narrative on every resource but Binary, and a type on every reference', async () => {
    const truth = sim.data.allResources('JAFJCD', me());
    const seen = new Set<string>();
    for (const resource of truth) {
      if (seen.has(resource.resourceType)) continue;
      seen.add(resource.resourceType);
      const res = await sim.get(`/fhir/r4/JAFJCD/${resource.resourceType}/${resource.id}`, token());
      expect(res.status).toBe(200);
      if (resource.resourceType === 'Binary') {
        expect(res.body.text).toBeUndefined();
        continue;
      }
      expect(res.body.text?.div, resource.resourceType).toMatch(
        /^<div xmlns="http:\/\/www\.w3\.org\/1999\/xhtml">.+<\/div>$/,
      );
      const untyped: string[] = [];
      JSON.stringify(res.body, (key, value) => {
        if (key !== 'reference' && value && typeof value.reference === 'string' && !value.type) {
          untyped.push(value.reference);
        }
        return value;
      });
      expect(untyped, resource.resourceType).toEqual([]);
    }
    expect(seen.size).toBeGreaterThan(15);
  });

  it('writes decimals with their precision: a WBC range ends at 11.0 in the JSON text', async () => {
    const wbc = (sim.data.allResources('JAFJCD', me(), { type: 'Observation' }) as Json[]).find(
      (o) => o.code.coding[0].code === '6690-2',
    );
    expect(wbc).toBeDefined();
    const res = await sim.get(`/fhir/r4/JAFJCD/Observation/${wbc.id}`, token());
    expect(res.text).toContain('"high": {\n        "value": 11.0,');
    expect(res.body.referenceRange[0].high.value).toBe(11);
  });

  it('keeps each DiagnosticReport last result out of every per-category search', async () => {
    const t = token();
    const found = new Set<string>();
    for (const category of US_CORE_CATEGORIES) {
      let url: string | undefined =
        `/fhir/r4/JAFJCD/Observation?patient=${me()}&category=${category}&_count=200`;
      while (url) {
        const res = await sim.get(url, t);
        for (const id of ids(res.body)) found.add(id);
        const next = res.body.link.find((l: Json) => l.relation === 'next')?.url;
        url = next ? rebase(next, sim.base()) : undefined;
      }
    }
    const reports = sim.data.allResources('JAFJCD', me(), { type: 'DiagnosticReport' }) as Json[];
    expect(reports.length).toBeGreaterThan(0);
    for (const report of reports) {
      const refs: string[] = report.result.map((r: Json) => r.reference.split('/')[1]);
      const last = refs.at(-1) as string;
      expect(found.has(last)).toBe(false);
      expect(refs.slice(0, -1).every((id) => found.has(id))).toBe(true);
      const read = await sim.get(`/fhir/r4/JAFJCD/Observation/${last}`, t);
      expect(read.body.category[0].coding[0]).toMatchObject({
        system: ECW_OBSERVATION_CATEGORY,
        code: 'point-of-care',
      });
    }
  });

  it('links on its plain-http host in its own order; the empty result totals the _count asked', async () => {
    const res = await sim.get(
      `/fhir/r4/JAFJCD/Condition?patient=${me()}&clinical-status=active&_count=3`,
      token(),
    );
    const truth = (sim.data.allResources('JAFJCD', me(), { type: 'Condition' }) as Json[]).filter(
      (c) => c.clinicalStatus.coding[0].code === 'active',
    );
    expect(res.body.total).toBe(truth.length);
    expect(res.body.link[0]).toEqual({
      relation: 'self',
      url: `${FOREIGN}/Condition?_count=3&clinical-status=active&patient=${me()}`,
    });
    expect(res.body.entry[0].fullUrl).toMatch(new RegExp(`^${FOREIGN}/Condition/`));
    const empty = await sim.get(`/fhir/r4/JAFJCD/Coverage?patient=${me()}&_count=25`, token());
    expect(empty.status).toBe(200);
    expect('entry' in empty.body).toBe(false);
    expect(empty.body.total).toBe(25);
  });
});

describe('the generic profile: a permissive reference server', () => {
  it('takes _lastUpdated, _id and no category; right totals, compact JSON, versionId, its own links', async () => {
    sim.ctx.options.profile = 'generic';
    const t = token();
    const observations = await sim.get(
      `/fhir/r4/JAFJCD/Observation?patient=${me()}&_lastUpdated=gt2000-01-01&_count=5`,
      t,
    );
    expect(observations.status).toBe(200);
    expect(observations.text.includes('\n')).toBe(false);
    expect(observations.headers.get('content-type')).toBe('application/fhir+json;charset=utf-8');
    expect(observations.body.total).toBe(
      sim.data.allResources('JAFJCD', me(), { type: 'Observation' }).length,
    );
    expect(observations.body.entry[0].resource.meta.versionId).toMatch(/^\d+$/);
    expect(observations.body.link[0].url).toBe(
      `${sim.base()}/Observation?patient=${me()}&_lastUpdated=gt2000-01-01&_count=5`,
    );
    const byId = await sim.get(`/fhir/r4/JAFJCD/Patient?_id=${me()}`, t);
    expect(ids(byId.body)).toEqual([me()]);
    const read = await sim.get(`/fhir/r4/JAFJCD/Patient/${me()}`, t);
    expect(read.headers.get('etag')).toBe(`W/"${read.body.meta.versionId}"`);
    expect(read.headers.get('content-location')).toBeNull();
    const empty = await sim.get(`/fhir/r4/JAFJCD/Coverage?patient=${me()}`, t);
    expect(empty.body).toMatchObject({ total: 0, entry: [] });
    expect((await sim.get(`/fhir/r4/JAFJCD/Condition?foo=bar`, t)).status).toBe(400);
  });
});
