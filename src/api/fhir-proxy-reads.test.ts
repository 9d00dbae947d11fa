// What one proxied read asks of the store: the connection row once (the ownership check's row is
// passed down to the target and the token), and the API key not at all while it is verified.
// A connection ended between two reads is refused on the next one: nothing is kept across requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPatient } from '../../test/e2e/helpers/connect.ts';
import { type Stack, startStack } from '../../test/e2e/helpers/stack.ts';

let stack: Stack;
let connectionId: string;
let patientId: string;
const reads = { connection: 0, apiKey: 0 };

beforeAll(async () => {
  stack = await startStack({
    config: { sync: { concurrency: 0, onConnect: false, intervalMs: 0 } },
  });
  ({ connectionId } = await connectPatient(stack));
  patientId = (await stack.runtime.vault.get(connectionId)).patientId ?? '';
  const { connections, apiKeys } = stack.runtime.store;
  const get = connections.get.bind(connections);
  connections.get = (id) => {
    reads.connection++;
    return get(id);
  };
  const findByHash = apiKeys.findByHash.bind(apiKeys);
  apiKeys.findByHash = (hash) => {
    reads.apiKey++;
    return findByHash(hash);
  };
});
afterAll(() => stack.close());

const read = () => stack.api(`/api/connections/${connectionId}/fhir/Patient/${patientId}`);

describe('a proxied read and the store', () => {
  it('reads the connection row once per request', async () => {
    await (await read()).arrayBuffer();
    reads.connection = 0;
    for (let i = 0; i < 3; i++) {
      const res = await read();
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    expect(reads.connection).toBe(3);
  });

  it('looks the API key up once for a run of requests within its verified period', async () => {
    reads.apiKey = 0;
    for (let i = 0; i < 3; i++) await (await read()).arrayBuffer();
    expect(reads.apiKey).toBeLessThanOrEqual(1);
  });

  it('refuses the read right after the connection is disconnected', async () => {
    await (await read()).arrayBuffer();
    await stack.runtime.vault.disconnect(connectionId);
    const res = await read();
    expect(res.status).not.toBe(200);
    await res.arrayBuffer();
  });
});
