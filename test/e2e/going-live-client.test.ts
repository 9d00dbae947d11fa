// The typed client (`fhirbridge/client`, as an app backend imports it) drives a whole connect
// over real HTTP: it starts the connection, the patient signs in at the simulator, and the
// client then reads the connection, syncs it and reads the record; errors carry their code.

import { createClient, FhirbridgeApiError, type FhirbridgeClient } from 'fhirbridge/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/access/api-keys.ts';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let stack: Stack;
let client: FhirbridgeClient;

beforeAll(async () => {
  stack = await startStack();
  const { secret } = await createApiKey(stack.runtime.store, stack.runtime.clock, 'acme', 'app');
  client = createClient({ baseUrl: stack.url, apiKey: secret });
});
afterAll(async () => {
  await stack.close();
});

describe('fhirbridge/client', () => {
  it('connects a patient, syncs and reads the record', async () => {
    const { connectionId, outcome } = await connectPatient(stack, {
      start: () => client.connections.create({ practice: 'JAFJCD', userRef: 'user-42' }),
    });
    expect(outcome).toBe('connected');

    const connection = await client.connections.get(connectionId);
    expect(connection).toMatchObject({ id: connectionId, userRef: 'user-42', state: 'active' });
    expect((await client.connections.list()).connections.map((c) => c.id)).toEqual([connectionId]);

    const started = await client.sync.start(connectionId, { mode: 'full' });
    expect(started.connectionId).toBe(connectionId);
    // The background worker runs it; the job's own wait is on the server's clock, not a sleep here.
    let status = await client.sync.get(connectionId);
    for (let i = 0; i < 200 && status.status !== 'succeeded'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = await client.sync.get(connectionId);
    }
    expect(status.status).toBe('succeeded');

    const patients = await client.resources.search(connectionId, 'Patient');
    expect(patients.resourceType).toBe('Bundle');
    expect(patients.entry?.map((e) => e.resource.id)).toEqual([connection.patient]);
    const patient = await client.resources.read<{ id: string }>(
      connectionId,
      'Patient',
      connection.patient!,
    );
    expect(patient.id).toBe(connection.patient);
    const live = await client.fhir<{ resourceType: string; id: string }>(
      connectionId,
      `Patient/${connection.patient}`,
    );
    expect(live).toMatchObject({ resourceType: 'Patient', id: connection.patient });
  });

  it('turns a refusal into a FhirbridgeApiError with its status, code and request id', async () => {
    const error = await client.connections.get('con_doesnotexist0').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FhirbridgeApiError);
    expect(error).toMatchObject({ status: 404, code: 'not_found' });
    expect((error as FhirbridgeApiError).requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
