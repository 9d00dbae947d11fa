import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FhirTestServer, startFhirTestServer } from './fhir-server.test-helper.ts';

// biome-ignore lint/suspicious/noExplicitAny: bodies are inspected field by field
type Json = any;

let sim: FhirTestServer;
beforeAll(async () => {
  sim = await startFhirTestServer({ seed: 'admin-tests' });
});
afterAll(() => sim.close());
afterEach(() => {
  sim.ctx.options.profile = 'healow';
});

const ids = (bundle: Json): string[] => (bundle.entry ?? []).map((e: Json) => e.resource.id);

describe('data admin routes', () => {
  it('lists the test patients and serves ground truth per patient', async () => {
    const patients = await sim.admin('GET', '/data/JAFJCD/patients');
    expect(patients.body.map((p: Json) => p.username)).toEqual([
      'AdultFemaleFHIR',
      'AdultMaleFHIR',
      'ChildFemaleFHIR',
      'ChildMaleFHIR',
    ]);
    const me = sim.patientId('AdultFemaleFHIR');
    expect(patients.body[0]).toEqual({
      username: 'AdultFemaleFHIR',
      patientId: me,
      displayName: 'Linda Hernández',
    });

    const byName = await sim.admin('GET', '/data/JAFJCD/AdultFemaleFHIR/resources');
    const byId = await sim.admin('GET', `/data/JAFJCD/${me}/resources`);
    expect(byName.body).toEqual(byId.body);
    expect(byName.body).toMatchObject({ resourceType: 'Bundle', type: 'collection' });
    const counts = await sim.admin('GET', '/data/JAFJCD/AdultFemaleFHIR/counts');
    const sum = Object.values(counts.body as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(byName.body.total).toBe(sum);
    expect(byName.body.entry).toHaveLength(sum);
    const conditions = await sim.admin(
      'GET',
      '/data/JAFJCD/AdultFemaleFHIR/resources?type=Condition',
    );
    expect(conditions.body.entry).toHaveLength(counts.body.Condition);

    expect((await sim.admin('GET', '/data/JAFJCD/Nobody/resources')).status).toBe(404);
    expect((await sim.admin('GET', '/data/ZZZZZZ/patients')).status).toBe(404);
  });

  it('adds a resource that the FHIR server then serves, with version 1 and the clock time', async () => {
    const me = sim.patientId('AdultMaleFHIR');
    sim.clock.set(Date.UTC(2026, 5, 1, 15, 0, 0));
    const token = sim.token('AdultMaleFHIR', ['patient/*.read']);
    // The generic profile: `_since` and `meta.versionId` as a permissive server has them.
    sim.ctx.options.profile = 'generic';
    const added = await sim.admin('POST', '/data/JAFJCD/AdultMaleFHIR/resources', {
      resourceType: 'Observation',
      status: 'final',
      category: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/observation-category',
              code: 'vital-signs',
            },
          ],
        },
      ],
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: `Patient/${me}` },
      effectiveDateTime: '2026-06-01T10:00:00-04:00',
      valueQuantity: { value: 64, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    });
    expect(added.status).toBe(201);
    expect(added.body.id).toMatch(/^[A-Za-z0-9.-]{1,64}$/);
    expect(added.body.meta).toMatchObject({
      versionId: '1',
      lastUpdated: '2026-06-01T11:00:00.000-04:00',
    });
    const since = await sim.get(
      `/fhir/r4/JAFJCD/Observation?patient=${me}&category=vital-signs&_since=2026-06-01`,
      token,
    );
    expect(ids(since.body)).toEqual([added.body.id]);
    const read = await sim.get(`/fhir/r4/JAFJCD/Observation/${added.body.id}`, token);
    expect(read.body).toEqual(added.body);

    const again = await sim.admin('POST', '/data/JAFJCD/AdultMaleFHIR/resources', added.body);
    expect(again.status).toBe(409);
    const fhirJson = await fetch(`${sim.origin}/admin/data/JAFJCD/AdultMaleFHIR/resources`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Goal',
        id: 'goal.added-1',
        lifecycleStatus: 'proposed',
      }),
    });
    expect(fhirJson.status).toBe(201);
    expect(
      (await sim.admin('POST', '/data/JAFJCD/AdultMaleFHIR/resources', { status: 'final' })).status,
    ).toBe(400);
    expect(
      (
        await sim.admin('POST', '/data/JAFJCD/AdultMaleFHIR/resources', {
          resourceType: 'Spaceship',
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await sim.admin('POST', '/data/JAFJCD/AdultMaleFHIR/resources', {
          resourceType: 'Goal',
          id: 'bad id!',
        })
      ).status,
    ).toBe(400);
  });

  it('replaces and changes resources, bumping meta.versionId and meta.lastUpdated', async () => {
    const me = sim.patientId('ChildFemaleFHIR');
    const goal = sim.data.allResources('JAFJCD', me, { type: 'Goal' })[0] as Json;
    sim.clock.set(Date.UTC(2026, 6, 1, 12, 0, 0));
    const replaced = await sim.admin(
      'PUT',
      `/data/JAFJCD/ChildFemaleFHIR/resources/Goal/${goal.id}`,
      {
        ...goal,
        lifecycleStatus: 'completed',
      },
    );
    expect(replaced.status).toBe(200);
    expect(replaced.body.lifecycleStatus).toBe('completed');
    expect(replaced.body.meta.versionId).toBe(String(Number(goal.meta.versionId) + 1));
    expect(replaced.body.meta.lastUpdated).toBe('2026-07-01T08:00:00.000-04:00');

    sim.clock.shift(60_000);
    const touched = await fetch(
      `${sim.origin}/admin/data/JAFJCD/ChildFemaleFHIR/resources/Goal/${goal.id}`,
      {
        method: 'PATCH',
      },
    );
    const body = (await touched.json()) as Json;
    expect(body.meta.versionId).toBe(String(Number(goal.meta.versionId) + 2));
    expect(body.meta.lastUpdated).toBe('2026-07-01T08:01:00.000-04:00');
    expect(body.lifecycleStatus).toBe('completed');

    const removedField = await sim.admin(
      'PATCH',
      `/data/JAFJCD/ChildFemaleFHIR/resources/Goal/${goal.id}`,
      {
        achievementStatus: null,
        id: 'ignored',
      },
    );
    expect(removedField.body.achievementStatus).toBeUndefined();
    expect(removedField.body.id).toBe(goal.id);

    const mismatch = await sim.admin(
      'PUT',
      `/data/JAFJCD/ChildFemaleFHIR/resources/Goal/${goal.id}`,
      {
        resourceType: 'Condition',
      },
    );
    expect(mismatch.status).toBe(400);
    expect(
      (await sim.admin('PATCH', '/data/JAFJCD/ChildFemaleFHIR/resources/Goal/nope', {})).status,
    ).toBe(404);
  });

  it('deletes a resource: reads answer 410, searches and ground truth drop it', async () => {
    const me = sim.patientId('ChildMaleFHIR');
    const token = sim.token('ChildMaleFHIR', ['patient/*.read']);
    const before = sim.data.allResources('JAFJCD', me, { type: 'Immunization' });
    const victim = before[3] as Json;
    const deleted = await sim.admin(
      'DELETE',
      `/data/JAFJCD/ChildMaleFHIR/resources/Immunization/${victim.id}`,
    );
    expect(deleted.status).toBe(204);
    const read = await sim.get(`/fhir/r4/JAFJCD/Immunization/${victim.id}`, token);
    expect(read.status).toBe(410);
    expect(read.body.resourceType).toBe('OperationOutcome');
    const search = await sim.get(`/fhir/r4/JAFJCD/Immunization?patient=${me}&_count=200`, token);
    expect(ids(search.body)).toEqual(before.filter((r) => r.id !== victim.id).map((r) => r.id));
    const truth = await sim.admin('GET', '/data/JAFJCD/ChildMaleFHIR/resources?type=Immunization');
    expect(truth.body.entry).toHaveLength(before.length - 1);
    expect(
      (await sim.admin('DELETE', `/data/JAFJCD/ChildMaleFHIR/resources/Immunization/${victim.id}`))
        .status,
    ).toBe(410);
  });
});
