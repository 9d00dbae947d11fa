// A type's search that never answers or loses its connection, as healow's DocumentReference
// search once did: the fault hits that type's searches at that practice and nothing else, and
// close() ends the requests it holds.

import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from './index.ts';
import { authorizeCode, tokenRequest } from './simulator.test-helper.ts';

const REDIRECT = 'http://127.0.0.1:9999/callback';

describe('faults on one resource type', () => {
  let simulator: Simulator | undefined;
  afterEach(async () => {
    await simulator?.close();
    simulator = undefined;
  });

  /** A simulator and a patient token for the three types used here, at JAFJCD. */
  async function start(): Promise<{
    sim: Simulator;
    patient: string;
    get(path: string, init?: RequestInit): Promise<Response>;
  }> {
    const sim = await createSimulator({ port: 0, adminEnabled: true });
    simulator = sim;
    const site = { origin: sim.url, base: (code = 'JAFJCD') => sim.fhirBase(code) };
    const { code, verifier } = await authorizeCode(site, {
      scope:
        'launch/patient patient/Condition.read patient/DocumentReference.read patient/Encounter.read',
    });
    const token = await tokenRequest(sim.url, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_id: 'sim-demo-public',
    });
    const auth = { authorization: `Bearer ${token.body.access_token}` };
    return {
      sim,
      patient: String(token.body.patient),
      get: (path, init = {}) =>
        fetch(`${sim.fhirBase('JAFJCD')}${path}`, { ...init, headers: auth }),
    };
  }

  const addFault = async (sim: Simulator, fault: Record<string, unknown>) => {
    const response = await fetch(`${sim.url}/admin/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(fault),
    });
    expect(response.status).toBe(201);
  };

  it('hangs the DocumentReference search only; other types answer meanwhile', async () => {
    const { sim, patient, get } = await start();
    await addFault(sim, {
      route: 'fhir',
      pathPrefix: '/fhir/r4/JAFJCD/DocumentReference',
      timeout: true,
    });
    const abort = new AbortController();
    let settled = false;
    const hung = get(`/DocumentReference?patient=${patient}`, { signal: abort.signal })
      .catch((e: unknown) => e)
      .finally(() => {
        settled = true;
      });
    const other = await get(`/Condition?patient=${patient}`, {
      signal: AbortSignal.timeout(10_000),
    });
    expect(other.status).toBe(200);
    expect((await get(`/Encounter?patient=${patient}`)).status).toBe(200);
    // Still unanswered after other searches came and went: only the client's giving up ends it.
    expect(settled).toBe(false);
    abort.abort();
    expect(await hung).toBeInstanceOf(Error);
  });

  it('drops the connection of the DocumentReference search only', async () => {
    const { sim, patient, get } = await start();
    await addFault(sim, {
      route: 'fhir',
      pathPrefix: '/fhir/r4/JAFJCD/DocumentReference',
      dropConnection: true,
    });
    await expect(get(`/DocumentReference?patient=${patient}`)).rejects.toThrow();
    expect((await get(`/Condition?patient=${patient}`)).status).toBe(200);
  });

  it('close() ends the searches it holds, at once', async () => {
    const { sim, patient, get } = await start();
    await addFault(sim, {
      route: 'fhir',
      pathPrefix: '/fhir/r4/JAFJCD/DocumentReference',
      timeout: true,
    });
    const held = [1, 2, 3].map(() =>
      get(`/DocumentReference?patient=${patient}`).catch((e: unknown) => e),
    );
    // The fault counts a hit when it holds a request.
    for (;;) {
      const [fault] = (await (await fetch(`${sim.url}/admin/faults`)).json()) as { hits: number }[];
      if ((fault?.hits ?? 0) >= 3) break;
    }
    const closing = performance.now();
    await sim.close();
    simulator = undefined;
    expect(performance.now() - closing).toBeLessThan(2000);
    for (const result of await Promise.all(held)) expect(result).toBeInstanceOf(Error);
  });
});
