import { afterEach, describe, expect, it } from 'vitest';
import { startTestSimulator, type TestSimulator, tokenRequest } from './simulator.test-helper.ts';

describe('injected faults', () => {
  let sim: TestSimulator;
  afterEach(() => sim?.close());

  const addFault = async (fault: Record<string, unknown>) => {
    const response = await sim.admin('POST', '/faults', fault);
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string };
  };
  const metadata = (code = 'JAFJCD') => fetch(`${sim.base(code)}/metadata`);

  it('adds latency to the matching route only', async () => {
    sim = await startTestSimulator();
    await addFault({ route: 'discovery', latencyMs: 150 });
    let t = performance.now();
    expect((await metadata()).status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(140);
    t = performance.now();
    await fetch(`${sim.origin}/oauth/oauth2/jwks`);
    expect(performance.now() - t).toBeLessThan(140);
  });

  it('answers 5xx in the route shape: OperationOutcome for FHIR, OAuth JSON for token', async () => {
    sim = await startTestSimulator();
    await addFault({ route: 'discovery', errorRate: 1, errorStatus: 503, practice: 'JAFJCD' });
    const fhir = await metadata();
    expect(fhir.status).toBe(503);
    expect((await fhir.json()).resourceType).toBe('OperationOutcome');
    expect((await metadata('BFGHDA')).status).toBe(200);
    await addFault({ route: 'token', errorRate: 1, errorStatus: 500 });
    const token = await tokenRequest(sim.origin, {
      grant_type: 'refresh_token',
      refresh_token: 'x',
    });
    expect(token).toMatchObject({ status: 500, body: { error: 'server_error' } });
  });

  it('draws the 5xx rate from a seeded PRNG: same seed, same sequence', async () => {
    const run = async (seed: string) => {
      sim = await startTestSimulator({ seed });
      await addFault({ route: 'fhir', errorRate: 0.5, pathPrefix: '/fhir/r4/JAFJCD/metadata' });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i += 1) statuses.push((await metadata()).status);
      await sim.close();
      return statuses;
    };
    // `metadata` is classed as discovery, so a `fhir` fault must not touch it...
    const untouched = await run('seed-a');
    expect(untouched.every((s) => s === 200)).toBe(true);
    const sequence = async (seed: string) => {
      sim = await startTestSimulator({ seed });
      await addFault({ route: 'any', errorRate: 0.5, pathPrefix: '/fhir/r4/JAFJCD/metadata' });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i += 1) statuses.push((await metadata()).status);
      await sim.close();
      return statuses;
    };
    const a = await sequence('seed-a');
    const b = await sequence('seed-a');
    const c = await sequence('seed-c');
    expect(a).toEqual(b);
    expect(a).toContain(503);
    expect(a).toContain(200);
    expect(c).not.toEqual(a);
    sim = await startTestSimulator();
  });

  it('holds a timeout until the client gives up, and close() still ends', async () => {
    sim = await startTestSimulator();
    await addFault({ route: 'jwks', timeout: true });
    const t = performance.now();
    await expect(
      fetch(`${sim.origin}/oauth/oauth2/jwks`, { signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow();
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
    // A held request that the client never abandons: close() must not wait for it.
    const pending = fetch(`${sim.origin}/oauth/oauth2/jwks`).catch((e: unknown) => e);
    // Wait until the server holds it (the fault's hit count says so).
    for (;;) {
      const [fault] = (await (await sim.admin('GET', '/faults')).json()) as Array<{ hits: number }>;
      if ((fault?.hits ?? 0) >= 2) break;
    }
    const closing = performance.now();
    await sim.close();
    expect(performance.now() - closing).toBeLessThan(2000);
    expect(await pending).toBeInstanceOf(Error);
    sim = await startTestSimulator();
  });

  it('sends malformed JSON', async () => {
    sim = await startTestSimulator();
    await addFault({ route: 'jwks', malformedJson: true });
    const response = await fetch(`${sim.origin}/oauth/oauth2/jwks`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.startsWith('{"keys":[')).toBe(true);
    expect(() => JSON.parse(text)).toThrow();
  });

  it('drops the connection', async () => {
    sim = await startTestSimulator();
    await addFault({ route: 'discovery', dropConnection: true });
    await expect(metadata()).rejects.toThrow();
  });

  it('applies a fault a given number of times, and can be listed and removed', async () => {
    sim = await startTestSimulator();
    await addFault({ route: 'discovery', errorRate: 1, times: 2 });
    expect((await metadata()).status).toBe(503);
    expect((await metadata()).status).toBe(503);
    expect((await metadata()).status).toBe(200);
    const { id } = await addFault({ route: 'discovery', errorRate: 1 });
    expect(((await (await sim.admin('GET', '/faults')).json()) as unknown[]).length).toBe(1);
    expect((await sim.admin('DELETE', `/faults/${id}`)).status).toBe(204);
    expect((await metadata()).status).toBe(200);
    expect((await sim.admin('DELETE', `/faults/${id}`)).status).toBe(404);
    expect((await sim.admin('POST', '/faults', { route: 'nowhere' })).status).toBe(400);
  });

  it('never faults the admin API', async () => {
    sim = await startTestSimulator();
    await addFault({ route: 'any', errorRate: 1 });
    expect((await sim.admin('GET', '/faults')).status).toBe(200);
    expect((await sim.admin('DELETE', '/faults')).status).toBe(204);
    expect((await metadata()).status).toBe(200);
  });
});
