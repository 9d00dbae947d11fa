// Interop: the standard SMART client (fhirclient, client-js, Node adapter) completes a standalone
// launch with a public client against the simulator and reads the Patient. The browser steps
// (login and consent forms) are driven with plain HTTP.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import smart from 'fhirclient/lib/entry/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../../src/simulator/index.ts';

/** fhirclient's Storage interface, in memory (the Node adapter otherwise wants req.session). */
function memoryStorage() {
  const values = new Map<string, unknown>();
  return {
    get: async (key: string) => values.get(key),
    set: async (key: string, value: unknown) => {
      values.set(key, value);
      return value;
    },
    unset: async (key: string) => values.delete(key),
  };
}

const hiddenRequestId = (html: string): string => {
  const id = /name="request_id" value="([^"]+)"/.exec(html)?.[1];
  if (!id) throw new Error(`no request_id in: ${html.slice(0, 200)}`);
  return id;
};

describe('fhirclient against the simulator', () => {
  let simulator: Simulator;
  let app: Server;
  let appOrigin: string;
  const storage = memoryStorage();
  let base: string;

  beforeAll(async () => {
    simulator = await createSimulator({ port: 0, adminEnabled: true });
    base = simulator.fhirBase('JAFJCD');

    // The app: /launch starts fhirclient's authorize, /callback completes it and reads Patient.
    app = createServer((req: IncomingMessage, res: ServerResponse) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const fail = (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(error instanceof Error ? error.message : error));
      };
      if (path === '/launch') {
        smart(req, res, storage)
          .authorize({
            clientId: 'fhirclient-public',
            scope: 'openid fhirUser launch/patient patient/Patient.read',
            redirectUri: '/callback',
            iss: base,
            pkceMode: 'required',
          })
          .catch(fail);
        return;
      }
      if (path === '/callback') {
        smart(req, res, storage)
          .ready()
          .then(async (client) => {
            const patient = await client.patient.read();
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(
              JSON.stringify({ patientId: client.patient.id, patient, user: client.user.fhirUser }),
            );
          })
          .catch(fail);
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const address = app.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    appOrigin = `http://127.0.0.1:${address.port}`;

    const registered = await fetch(`${simulator.url}/admin/registrations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId: 'fhirclient-public',
        type: 'public',
        redirectUris: [`${appOrigin}/callback`],
        appName: 'fhirclient interop',
        appDescription: 'SMART client-js standalone launch',
      }),
    });
    expect(registered.status).toBe(201);
  });

  afterAll(async () => {
    await new Promise((resolve) => app.close(resolve));
    await simulator.close();
  });

  it('completes a standalone launch with a public client and reads the Patient', async () => {
    // 1. The app's launch endpoint redirects to the simulator's authorize endpoint.
    const launch = await fetch(`${appOrigin}/launch`, { redirect: 'manual' });
    expect(launch.status).toBe(302);
    const authorizeUrl = new URL(launch.headers.get('location') ?? '');
    expect(`${authorizeUrl.origin}${authorizeUrl.pathname}`).toBe(
      `${simulator.url}/oauth/oauth2/authorize`,
    );
    expect(authorizeUrl.searchParams.get('aud')).toBe(base);
    expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');

    // 2. The patient logs in and allows.
    const login = await fetch(authorizeUrl, { redirect: 'manual' });
    expect(login.status).toBe(200);
    const consent = await fetch(`${simulator.url}/oauth/oauth2/login`, {
      method: 'POST',
      body: new URLSearchParams({
        request_id: hiddenRequestId(await login.text()),
        username: 'AdultFemaleFHIR',
        password: 'e@CWFHIR1',
      }),
      redirect: 'manual',
    });
    const consentHtml = await consent.text();
    expect(consentHtml).toContain('fhirclient interop');
    const allow = new URLSearchParams({
      request_id: hiddenRequestId(consentHtml),
      decision: 'allow',
    });
    for (const match of consentHtml.matchAll(/name="scope" value="([^"]+)"/g)) {
      allow.append('scope', match[1] ?? '');
    }
    const back = await fetch(`${simulator.url}/oauth/oauth2/consent`, {
      method: 'POST',
      body: allow,
      redirect: 'manual',
    });
    expect(back.status).toBe(302);
    const callback = new URL(back.headers.get('location') ?? '');
    expect(`${callback.origin}${callback.pathname}`).toBe(`${appOrigin}/callback`);
    expect(callback.searchParams.get('code')).toBeTruthy();

    // 3. fhirclient exchanges the code and reads the Patient.
    const done = await fetch(callback, { redirect: 'manual' });
    const body = await done.text();
    expect(done.status, body).toBe(200);
    const result = JSON.parse(body);
    const expectedId = simulator.context.data.patientIdFor('JAFJCD', 'AdultFemaleFHIR');
    expect(result.patientId).toBe(expectedId);
    expect(result.patient).toMatchObject({ resourceType: 'Patient', id: expectedId });
    expect(result.user).toContain(`Patient/${expectedId}`);
  });
});
