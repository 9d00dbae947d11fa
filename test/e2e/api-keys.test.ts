// API keys belong to an app: an app key acts only on the connections its app made (another
// app's is a 404, as if it did not exist) and the operator's routes need an admin key. Over real
// HTTP against the simulator, on a real SQLite file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/access/api-keys.ts';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let s: Stack;
let keyA: string;
let keyB: string;
/** A connected connection of app A, with a synced record. */
let connectionA: string;
let patientA: string;

const call = (key: string, path: string, init: RequestInit = {}) =>
  fetch(`${s.url}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${key}`,
      ...(init.body ? { 'content-type': 'application/json' } : {}),
    },
  });

/** The message of a JSON error or of a FHIR OperationOutcome. */
function messageOf(text: string): string | undefined {
  const body = JSON.parse(text) as {
    error?: { message: string };
    issue?: Array<{ diagnostics: string }>;
  };
  return body.error?.message ?? body.issue?.[0]?.diagnostics;
}

async function startAs(key: string, userRef: string) {
  const response = await call(key, '/api/connections', {
    method: 'POST',
    body: JSON.stringify({ practice: 'JAFJCD', userRef }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; connection: { userRef: string } };
}

beforeAll(async () => {
  s = await startStack({ config: { sync: { onConnect: false } } });
  keyA = (await createApiKey(s.runtime.store, s.runtime.clock, 'app-a', 'app')).secret;
  keyB = (await createApiKey(s.runtime.store, s.runtime.clock, 'app-b', 'app')).secret;
  // connectPatient starts through the stack's own key: start as app A and finish the same way.
  const started = await startAs(keyA, 'user-42');
  const { connectionId } = await connectPatient(
    { ...s, api: (path, init) => call(keyA, path, init) },
    { userRef: 'user-42' },
  );
  expect(connectionId).toBe(started.id);
  connectionA = connectionId;
  patientA = (
    (await (await call(keyA, `/api/connections/${connectionA}`)).json()) as {
      patient: string;
    }
  ).patient;
}, 60_000);

afterAll(async () => {
  await s?.close();
});

describe('an app key and another app’s connection', () => {
  const routes = () => [
    { what: 'get', method: 'GET', path: `/api/connections/${connectionA}` },
    {
      what: 'proxy',
      method: 'GET',
      path: `/api/connections/${connectionA}/fhir/Patient/${patientA}`,
    },
    {
      what: 'proxy search',
      method: 'GET',
      path: `/api/connections/${connectionA}/fhir/Condition?patient=${patientA}`,
    },
    {
      what: 'resources',
      method: 'GET',
      path: `/api/connections/${connectionA}/resources/Condition`,
    },
    {
      what: 'one resource',
      method: 'GET',
      path: `/api/connections/${connectionA}/resources/Patient/${patientA}`,
    },
    { what: 'export', method: 'GET', path: `/api/connections/${connectionA}/export` },
    { what: 'sync status', method: 'GET', path: `/api/connections/${connectionA}/sync` },
    { what: 'sync', method: 'POST', path: `/api/connections/${connectionA}/sync` },
    { what: 'refresh', method: 'POST', path: `/api/connections/${connectionA}/refresh` },
    { what: 'delete', method: 'DELETE', path: `/api/connections/${connectionA}` },
  ];

  it('answers 404 to app B on every route of app A’s connection, exactly as for an unknown id', async () => {
    const unknown = await call(keyB, '/api/connections/con_doesnotexist0000');
    const unknownBody = (await unknown.json()) as { error: { message: string } };
    for (const route of routes()) {
      const response = await call(keyB, route.path, { method: route.method });
      expect({ route: route.what, status: response.status }).toEqual({
        route: route.what,
        status: 404,
      });
      const text = await response.text();
      expect({ route: route.what, message: messageOf(text) }).toEqual({
        route: route.what,
        message: `unknown connection "${connectionA}"`,
      });
      expect(text).not.toContain(patientA);
    }
    expect(unknownBody.error.message).toBe('unknown connection "con_doesnotexist0000"');
    // Nothing B tried changed A's connection.
    const view = (await (await call(keyA, `/api/connections/${connectionA}`)).json()) as {
      state: string;
    };
    expect(view.state).toBe('active');
  });

  it('lets app A read its own connection and proxy through it', async () => {
    const own = await call(keyA, `/api/connections/${connectionA}`);
    expect(own.status).toBe(200);
    expect(((await own.json()) as { userRef: string }).userRef).toBe('user-42');
    const patient = await call(keyA, `/api/connections/${connectionA}/fhir/Patient/${patientA}`);
    expect(patient.status).toBe(200);
    expect(((await patient.json()) as { id: string }).id).toBe(patientA);
    const resources = await call(keyA, `/api/connections/${connectionA}/resources/Condition`);
    expect(resources.status).toBe(200);
  });

  it('lists to each app its own connections only, to the admin key every one', async () => {
    const appC = (await createApiKey(s.runtime.store, s.runtime.clock, 'app_c', 'app')).secret;
    const c1 = await startAs(appC, 'c-1');
    const c2 = await startAs(appC, 'c-2');
    // `_` is a LIKE wildcard: `app_c` must not see `appXc`'s connections, nor they its.
    const lookalike = (await createApiKey(s.runtime.store, s.runtime.clock, 'appXc', 'app')).secret;
    const x1 = await startAs(lookalike, 'x-1');
    const listOf = async (key: string) => {
      const response = await call(key, '/api/connections?limit=500');
      expect(response.status).toBe(200);
      const body = (await response.json()) as {
        connections: Array<{ id: string; userRef: string }>;
      };
      return body.connections;
    };
    expect((await listOf(appC)).map((c) => [c.id, c.userRef])).toEqual([
      [c2.id, 'c-2'],
      [c1.id, 'c-1'],
    ]);
    expect((await listOf(lookalike)).map((c) => c.id)).toEqual([x1.id]);
    expect((await listOf(keyA)).map((c) => c.id)).toEqual([connectionA]);
    const all = (await (await s.api('/api/connections?limit=500')).json()) as {
      connections: Array<{ id: string }>;
    };
    expect(all.connections.map((c) => c.id)).toEqual(
      expect.arrayContaining([connectionA, c1.id, c2.id]),
    );
  });

  it('lets the admin key see every connection', async () => {
    expect((await s.api(`/api/connections/${connectionA}`)).status).toBe(200);
  });

  it('keeps two apps’ same userRef apart: B’s user-42 is a connection of its own', async () => {
    const b = await startAs(keyB, 'user-42');
    expect(b.id).not.toBe(connectionA);
    expect(b.connection.userRef).toBe('user-42');
    expect((await call(keyA, `/api/connections/${b.id}`)).status).toBe(404);
    expect((await call(keyB, `/api/connections/${b.id}`)).status).toBe(200);
  });

  it('gives a second key of the same app the app’s connections (a rotated key keeps them)', async () => {
    const rotated = (await createApiKey(s.runtime.store, s.runtime.clock, 'app-a', 'app')).secret;
    expect((await call(rotated, `/api/connections/${connectionA}`)).status).toBe(200);
  });
});

describe('admin routes', () => {
  const adminRoutes = [
    {
      method: 'POST',
      path: '/api/practices',
      body: { id: 'NEW1', name: 'New', base: 'https://ehr.example.org/fhir' },
    },
    { method: 'POST', path: '/api/practices/import', body: { url: 'https://ehr.example.org/dir' } },
    { method: 'POST', path: '/api/practices/JAFJCD/check' },
    { method: 'POST', path: '/api/practices/JAFJCD/disable', body: {} },
    { method: 'POST', path: '/api/practices/JAFJCD/enable' },
    { method: 'GET', path: '/api/webhooks/deliveries' },
    { method: 'GET', path: '/api/webhooks/deliveries/whd_0000000000000' },
    { method: 'POST', path: '/api/webhooks/deliveries/whd_0000000000000/redeliver' },
    { method: 'GET', path: '/api/apikeys' },
    { method: 'POST', path: '/api/apikeys', body: { name: 'sneaky', role: 'admin' } },
    { method: 'POST', path: '/api/apikeys/key_00000000000/revoke' },
  ];

  it('refuses each with 403 to an app key, and changes nothing', async () => {
    for (const route of adminRoutes) {
      const response = await call(keyB, route.path, {
        method: route.method,
        ...(route.body ? { body: JSON.stringify(route.body) } : {}),
      });
      expect({ path: `${route.method} ${route.path}`, status: response.status }).toEqual({
        path: `${route.method} ${route.path}`,
        status: 403,
      });
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    }
    const practice = await s.runtime.directory.getPractice('JAFJCD');
    expect(practice.status).toBe('active');
    expect((await s.runtime.store.apiKeys.list()).map((k) => k.name)).not.toContain('sneaky');
  });

  it('refuses an app key before reading the body: a malformed one is still a 403', async () => {
    const response = await fetch(`${s.url}/api/practices/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keyB}`, 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(response.status).toBe(403);
  });

  it('lets an app key search and read practices', async () => {
    expect((await call(keyB, '/api/practices?q=prodtest')).status).toBe(200);
    expect((await call(keyB, '/api/practices/JAFJCD')).status).toBe(200);
  });

  it('lets the admin key create an app key over the API, shown once, then revoke it', async () => {
    const created = await s.api('/api/apikeys', {
      method: 'POST',
      body: JSON.stringify({ name: 'billing-backend' }),
    });
    expect(created.status).toBe(201);
    const key = (await created.json()) as { id: string; role: string; secret: string };
    expect(key.role).toBe('app');
    expect(key.secret).toMatch(/^fbk_[A-Za-z0-9_-]{43}$/);
    expect((await call(key.secret, '/api/practices/JAFJCD')).status).toBe(200);
    const listed = await (await s.api('/api/apikeys')).text();
    expect(listed).toContain('billing-backend');
    expect(listed).not.toContain(key.secret);
    expect((await s.api(`/api/apikeys/${key.id}/revoke`, { method: 'POST' })).status).toBe(200);
    expect((await call(key.secret, '/api/practices/JAFJCD')).status).toBe(401);
  });
});
