import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECTORY_PATH } from '../directory.ts';
import { createSimulator, type Simulator } from '../index.ts';
import { authorizeCode, tokenRequest } from '../simulator.test-helper.ts';

// biome-ignore lint/suspicious/noExplicitAny: bodies are inspected field by field
type Json = any;

let sim: Simulator;
beforeAll(async () => {
  sim = await createSimulator({ port: 0, adminEnabled: true, seed: 'composition' });
});
afterAll(() => sim.close());

const driver = () => ({ origin: sim.url, base: (code = 'JAFJCD') => sim.fhirBase(code) });

async function accessToken(
  scope: string,
  username = 'AdultFemaleFHIR',
): Promise<{ token: string; patient: string }> {
  const { code, verifier } = await authorizeCode(driver(), { scope, username });
  const res = await tokenRequest(sim.url, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: 'http://127.0.0.1:9999/callback',
    code_verifier: verifier,
    client_id: 'sim-demo-public',
  });
  expect(res.status).toBe(200);
  return { token: res.body.access_token as string, patient: res.body.patient as string };
}

describe('the FHIR routes inside createSimulator', () => {
  it('serve a patient signed in through the authorization server, with the granted scopes only', async () => {
    const { token, patient } = await accessToken(
      'openid fhirUser launch/patient patient/Patient.read patient/Observation.read',
    );
    expect(patient).toBe(sim.context.data.patientIdFor('JAFJCD', 'AdultFemaleFHIR'));
    const auth = { authorization: `Bearer ${token}`, accept: 'application/fhir+json' };
    const read = await fetch(`${sim.fhirBase('JAFJCD')}/Patient/${patient}`, { headers: auth });
    expect(read.status).toBe(200);
    expect(((await read.json()) as Json).name[0].given).toEqual(['Linda', 'María']);

    const quirk = await fetch(`${sim.fhirBase('JAFJCD')}/Observation?patient=${patient}`, {
      headers: auth,
    });
    expect(quirk.status).toBe(400);
    const labs = await fetch(
      `${sim.fhirBase('JAFJCD')}/Observation?patient=${patient}&category=laboratory&_count=5`,
      {
        headers: auth,
      },
    );
    const bundle = (await labs.json()) as Json;
    expect(bundle.entry.length).toBeGreaterThan(0);
    expect(bundle.link.find((l: Json) => l.relation === 'next').url).toMatch(
      /^http:\/\/fhir4\.eclinicalworks\.com\//,
    );

    const denied = await fetch(`${sim.fhirBase('JAFJCD')}/Condition?patient=${patient}`, {
      headers: auth,
    });
    expect(denied.status).toBe(403);
    const anonymous = await fetch(`${sim.fhirBase('JAFJCD')}/Patient/${patient}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer /);

    // The server's metadata route still answers (discovery.ts), next to the FHIR routes.
    expect((await fetch(`${sim.fhirBase('JAFJCD')}/metadata`)).status).toBe(200);
  });

  it('mounts the data admin routes and the directory', async () => {
    const patients = await fetch(`${sim.url}/admin/data/JAFJCD/patients`);
    expect(patients.status).toBe(200);
    expect(((await patients.json()) as Json).length).toBe(4);
    const directory = (await (await fetch(`${sim.url}${DIRECTORY_PATH}`)).json()) as Json;
    expect(directory.entry[0].resource).toMatchObject({
      resourceType: 'Endpoint',
      id: 'JAFJCD',
      address: sim.fhirBase('JAFJCD'),
    });
  });
});
