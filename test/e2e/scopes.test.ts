// Scopes against the simulator's discovery variants over real HTTP: what the authorize request
// asks for, what the patient grants, and the sync plan that grant yields.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SCOPES } from '../../src/config/schema.ts';
import { createSyncEngine } from '../../src/sync/index.ts';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

const IDENTITY = ['openid', 'fhirUser', 'offline_access', 'launch/patient'];
const WANTED_TYPES = DEFAULT_SCOPES.flatMap((s) => /^patient\/(\w+)\.read$/.exec(s)?.[1] ?? []);

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function up(options: Parameters<typeof startStack>[0] = {}): Promise<Stack> {
  stack = await startStack({
    ...options,
    config: { sync: { concurrency: 0, onConnect: false, intervalMs: 0 }, ...options.config },
  });
  return stack;
}

/** The `scope` of the authorize request our launch link redirects to. */
async function requestedScope(s: Stack): Promise<string[]> {
  const created = await s.api('/api/connections', {
    method: 'POST',
    body: JSON.stringify({ practice: 'JAFJCD', userRef: 'scope-probe' }),
  });
  expect(created.status).toBe(201);
  const { authorizeUrl } = (await created.json()) as { authorizeUrl: string };
  const launch = await fetch(authorizeUrl, { redirect: 'manual' });
  const location = launch.headers.get('location');
  expect(location).toBeTruthy();
  return (new URL(location ?? '').searchParams.get('scope') ?? '').split(' ');
}

function planOf(s: Stack, connectionId: string) {
  return createSyncEngine(s.runtime).plan(connectionId);
}

describe.each([
  { scopesSupported: 'wildcard-v1', wildcard: 'patient/*.read' },
  { scopesSupported: 'wildcard-v2', wildcard: 'patient/*.rs' },
] as const)('a discovery listing $wildcard', ({ scopesSupported, wildcard }) => {
  it('asks for the wildcard, is granted it, and plans every wanted type', async () => {
    const s = await up({ simulator: { quirks: { scopesSupported } } });
    expect(await requestedScope(s)).toEqual([...IDENTITY, wildcard]);

    const { connectionId, outcome } = await connectPatient(s, { username: 'AdultMaleFHIR' });
    expect(outcome).toBe('connected');
    const connection = await s.runtime.vault.get(connectionId);
    expect(connection.grantedScopes).toEqual([...IDENTITY, wildcard]);

    const plan = await planOf(s, connectionId);
    for (const type of WANTED_TYPES) expect(plan.types, type).toContain(type);
    expect(plan.searches.length).toBeGreaterThan(0);
  });
});

describe('the authorize request', () => {
  it('never asks for write access, whatever the registration wants', async () => {
    const s = await up({
      config: {
        registrations: {
          sandbox: {
            scopes: [...DEFAULT_SCOPES, 'patient/Observation.write', 'patient/Condition.*'],
          },
        },
      },
    });
    expect(await requestedScope(s)).toEqual(DEFAULT_SCOPES);
  });
});
