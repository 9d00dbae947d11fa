// The standalone launch as the vault runs it (start, launch, callback), on a real SQLite store
// file, with a scripted token endpoint.
import { afterEach, describe, expect, it } from 'vitest';
import { pkceChallenge } from '../smart/index.ts';
import { createLauncher } from './launch.ts';
import {
  AUTHORIZE_ENDPOINT,
  BASE,
  PUBLIC_URL,
  type VaultFixture,
  vaultFixture,
} from './vault.test-helper.ts';

let f: VaultFixture;

afterEach(() => f.close());

async function started(answer = () => Response.json({ access_token: 'x', token_type: 'Bearer' })) {
  f = await vaultFixture(answer);
  let grants = 0;
  f.beforeBudget.hook = async () => {
    grants++;
  };
  const launcher = createLauncher(f.deps);
  const { connection, launchUrl } = await launcher.start({ practice: 'P1', userRef: 'u1' });
  const state = launchUrl.slice(`${PUBLIC_URL}/launch/`.length);
  return { launcher, connection, state, grants: () => grants };
}

describe('start', () => {
  it('makes a pending connection and a launch link of our own; a new start for the user keeps the connection', async () => {
    const { launcher, connection, state } = await started();
    expect(connection).toMatchObject({ state: 'pending', practiceBase: BASE, userRef: 'u1' });
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const again = await launcher.start({ practice: 'P1', userRef: 'u1' });
    expect(again.connection.id).toBe(connection.id);
    expect(again.launchUrl).not.toBe(`${PUBLIC_URL}/launch/${state}`);
  });
});

describe('launch', () => {
  it('binds the first browser and spends the budget once, however often that browser opens the link', async () => {
    const { launcher, state, grants } = await started();
    const first = new URL(await launcher.launch(state, 'browser-a'));
    const second = new URL(await launcher.launch(state, 'browser-a'));
    expect(grants()).toBe(1);
    expect(first.origin + first.pathname).toBe(AUTHORIZE_ENDPOINT);
    expect(first.searchParams.get('state')).toBe(state);
    expect(first.searchParams.get('aud')).toBe(BASE);
    expect(second.searchParams.get('code_challenge')).toBe(
      first.searchParams.get('code_challenge'),
    );
    await expect(launcher.launch(state, 'browser-b')).rejects.toMatchObject({
      code: 'invalid_state',
    });
  });
});

describe('callback', () => {
  it('refuses another browser without using up the sign-in, then records a decline as its own state', async () => {
    const { launcher, connection, state } = await started();
    await launcher.launch(state, 'browser-a');
    const denied = { state, error: 'access_denied' };
    await expect(launcher.callback(denied, 'browser-b')).rejects.toMatchObject({
      code: 'invalid_state',
      message: 'this sign-in answer belongs to another browser',
    });
    const outcome = await launcher.callback(denied, 'browser-a');
    expect(outcome).toMatchObject({ outcome: 'declined', connection: { state: 'declined' } });
    await expect(launcher.callback(denied, 'browser-a')).rejects.toMatchObject({
      code: 'invalid_state',
    });
    expect(await f.store.connections.get(connection.id)).toMatchObject({ state: 'declined' });
  });

  it('exchanges the code with the verifier behind the challenge, and connects with the granted scopes', async () => {
    const { launcher, connection, state } = await started(() =>
      Response.json({
        access_token: 'at-1',
        token_type: 'Bearer',
        expires_in: 3600,
        scope: 'launch/patient patient/Patient.read',
        refresh_token: 'rt-1',
        patient: 'pat-9',
      }),
    );
    const authorize = new URL(await launcher.launch(state, 'browser-a'));
    const outcome = await launcher.callback({ state, code: 'the-code' }, 'browser-a');
    const [exchange] = f.tokenCalls;
    expect(exchange?.get('code')).toBe('the-code');
    expect(await pkceChallenge(exchange?.get('code_verifier') ?? '')).toBe(
      authorize.searchParams.get('code_challenge'),
    );
    expect(outcome).toMatchObject({
      outcome: 'connected',
      connection: {
        state: 'active',
        patientId: 'pat-9',
        grantedScopes: ['launch/patient', 'patient/Patient.read'],
      },
    });
    expect(await f.tokensOf(connection.id)).toMatchObject({
      accessToken: 'at-1',
      refreshToken: 'rt-1',
    });
  });
});
