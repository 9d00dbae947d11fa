import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSimulatorOptions } from './options.ts';
import { createSimulatorServer, type SimulatorServer } from './server.ts';
import {
  fakeDirectory,
  manualClock,
  startTestSimulator,
  type TestSimulator,
} from './simulator.test-helper.ts';

describe('errors in healow shape, never a crash', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator();
  });
  afterAll(() => sim.close());

  it('answers unknown routes in the shape of their area', async () => {
    const fhir = await fetch(`${sim.base()}/Unicorn/1/2/3`);
    expect(fhir.status).toBe(404);
    expect(fhir.headers.get('content-type')).toContain('json+fhir');
    expect((await fhir.json()).resourceType).toBe('OperationOutcome');
    const oauth = await fetch(`${sim.origin}/oauth/oauth2/nothing`);
    expect(oauth.status).toBe(404);
    expect(oauth.headers.get('content-type')).toContain('text/html');
    const other = await fetch(`${sim.origin}/nothing`);
    expect(other.status).toBe(404);
    expect((await other.json()).error).toBe(404);
    const badEscape = await fetch(`${sim.origin}/fhir/r4/%E0%A4%A/metadata`);
    expect(badEscape.status).toBe(400);
    const wrongMethod = await fetch(`${sim.origin}/oauth/oauth2/token`);
    expect(wrongMethod.status).toBe(404);
    expect((await wrongMethod.json()).error).toBe('invalid_request');
  });

  it('answers an unparseable authorize POST with an HTML page', async () => {
    const response = await fetch(`${sim.origin}/oauth/oauth2/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<x/>',
    });
    expect(response.status).toBe(415);
    expect(response.headers.get('content-type')).toContain('text/html');
  });

  it('survives a garbage request line and keeps serving', async () => {
    const { connect } = await import('node:net');
    const url = new URL(sim.origin);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(url.port), url.hostname, () =>
        socket.write('NOT HTTP\r\n\r\n'),
      );
      socket.on('data', () => socket.destroy());
      socket.on('close', () => resolve());
    });
    expect((await fetch(`${sim.base()}/metadata`)).status).toBe(200);
  });
});

describe('unexpected errors', () => {
  let server: SimulatorServer<ReturnType<typeof fakeDirectory>>;
  let origin: string;
  beforeAll(async () => {
    server = await createSimulatorServer({
      options: resolveSimulatorOptions({ port: 0 }),
      clock: manualClock(),
      practices: new Map([
        ['JAFJCD', { code: 'JAFJCD', name: 'x', city: '', state: '', disabled: false }],
      ]),
      data: fakeDirectory(),
      routes: (app) => {
        app.get('/fhir/r4/:practice/Boom', () => {
          throw new Error('secret internals');
        });
        app.get('/fhir/r4/:practice/metadata', () => ({
          resourceType: 'CapabilityStatement',
          own: true,
        }));
      },
    });
    origin = await server.listen();
  });
  afterAll(() => server.close());

  it('turns a thrown error into a 500 OperationOutcome without its message', async () => {
    const response = await fetch(`${origin}/fhir/r4/JAFJCD/Boom`);
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(JSON.parse(body).resourceType).toBe('OperationOutcome');
    expect(body).not.toContain('secret internals');
  });

  it('leaves /metadata to the FHIR routes when they serve it', async () => {
    const response = await fetch(`${origin}/fhir/r4/JAFJCD/metadata`);
    expect((await response.json()).own).toBe(true);
  });
});
