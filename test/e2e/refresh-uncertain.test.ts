// A refresh whose answer is lost after healow rotated the single-use refresh token (a truncated
// body, a dropped socket, a process killed inside the call): the next refresh is refused with
// invalid_grant, and the connection needs the patient again (`reauthorization_required`) rather
// than being declared `revoked` by the EHR. A refusal with nothing uncertain before it is still
// `revoked`, and an answer lost before the EHR did anything costs nothing.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, type StackOptions, startStack } from './helpers/stack.ts';

const BIN = fileURLToPath(new URL('../../bin/fhirbridge.mjs', import.meta.url));

let stack: Stack | undefined;
const children: ChildProcess[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await stack?.close();
  stack = undefined;
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** The app's webhook endpoint on 127.0.0.1: what it received, by event type. */
async function webhookReceiver() {
  const received: Array<{ type: string; data: Record<string, unknown> }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push(JSON.parse(body) as { type: string; data: Record<string, unknown> });
      res.writeHead(204).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    types: () => received.map((r) => r.type),
    async first(type: string) {
      for (let waited = 0; waited < 20_000; waited += 25) {
        const found = received.find((r) => r.type === type);
        if (found) return found;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(`no ${type} webhook arrived`);
    },
  };
}

async function up(options: StackOptions = {}): Promise<Stack> {
  stack = await startStack(options);
  return stack;
}

async function refreshes(s: Stack): Promise<number> {
  const counters = (await (await s.admin('/counters/JAFJCD')).json()) as { refreshes: number };
  return counters.refreshes;
}

async function fault(s: Stack, spec: Record<string, unknown>): Promise<void> {
  const response = await s.admin('/faults', { method: 'POST', body: JSON.stringify(spec) });
  expect(response.status).toBeLessThan(300);
}

async function refresh(s: Stack, id: string): Promise<{ status: number; code?: string }> {
  const response = await s.api(`/api/connections/${id}/refresh`, { method: 'POST' });
  const body = (await response.json()) as { error?: { code: string } };
  return { status: response.status, ...(body.error ? { code: body.error.code } : {}) };
}

async function eventTypes(s: Stack, connectionId: string): Promise<string[]> {
  const events = await s.runtime.store.events.list({ connectionId, limit: 50 });
  return events.map((e) => e.type);
}

/** The one ending a lost answer followed by invalid_grant must reach, asserted in full. */
async function expectReauthorizationRequired(s: Stack, connectionId: string): Promise<void> {
  const second = await refresh(s, connectionId);
  expect(second).toEqual({ status: 409, code: 'reauthorization_required' });
  const record = await s.runtime.vault.get(connectionId);
  expect(record.state).toBe('reauthorization_required');
  expect(record.refreshAttemptAt).toBeNull();
  expect(record.refreshLeaseUntil).toBeNull();
  const types = await eventTypes(s, connectionId);
  expect(types).toContain('connection.reauthorization_required');
  expect(types).not.toContain('connection.revoked');
  const [event] = await s.runtime.store.events
    .list({ connectionId, limit: 50 })
    .then((events) => events.filter((e) => e.type === 'connection.reauthorization_required'));
  expect(event?.data.reconnectUrl).toBe(`${s.url}/api/connections/${connectionId}/reconnect`);
  // Nothing reads through it until the patient is back, and the answers say why.
  const sync = await s.api(`/api/connections/${connectionId}/sync`, { method: 'POST' });
  expect(sync.status).toBe(409);
  expect(((await sync.json()) as { error: { code: string } }).error.code).toBe(
    'reauthorization_required',
  );

  // The link works: a new launch for the same user, which the patient completes.
  const again = await s.api(`/api/connections/${connectionId}/reconnect`, {
    method: 'POST',
    body: '{}',
  });
  expect(again.status).toBe(201);
  expect(((await again.json()) as { authorizeUrl: string }).authorizeUrl).toMatch(
    new RegExp(`^${s.url}/launch/`),
  );
}

describe('a refresh answer lost after the EHR rotated the refresh token', () => {
  it('a truncated token answer, then invalid_grant: reauthorization_required, not revoked', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    // malformedJson cuts the body once the token endpoint has rotated the refresh token.
    await fault(s, { route: 'token', malformedJson: true, times: 1 });
    const first = await refresh(s, connectionId);
    expect(first).toEqual({ status: 502, code: 'upstream_error' });
    expect(await refreshes(s)).toBe(1);
    const afterLoss = await s.runtime.vault.get(connectionId);
    expect(afterLoss.state).toBe('active');
    expect(afterLoss.refreshAttemptAt).toEqual(expect.any(Number));
    expect(afterLoss.sealedRefreshAnswer).toBeNull();

    await expectReauthorizationRequired(s, connectionId);
  });

  it('a socket dropped after the rotation, then invalid_grant: reauthorization_required', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    await fault(s, { route: 'token', dropConnection: true, afterHandler: true, times: 1 });
    expect(await refresh(s, connectionId)).toEqual({ status: 502, code: 'upstream_error' });
    expect(await refreshes(s)).toBe(1);
    await expectReauthorizationRequired(s, connectionId);
  });

  it('a bridge process killed (SIGKILL) inside the token call: the next refresh ends reauthorization_required, and no connection.revoked webhook goes out', async () => {
    const hooks = await webhookReceiver();
    const s = await up({
      config: {
        webhooks: [{ url: hooks.url, secret: `whsec_${randomBytes(32).toString('base64')}` }],
        webhookDelivery: { pollIntervalMs: 50 },
      },
    });
    const { connectionId } = await connectPatient(s);
    // The token endpoint rotates, then holds its answer until the client goes away.
    await fault(s, { route: 'token', timeout: true, afterHandler: true, times: 1 });
    const configFile = join(s.dataDir, 'child-config.json');
    writeFileSync(configFile, JSON.stringify(s.runtime.config));
    const child = spawn(
      process.execPath,
      [BIN, '--config', configFile, 'connections', 'refresh', connectionId],
      {
        env: Object.fromEntries(
          Object.entries(process.env).filter(([k]) => !k.startsWith('FHIRBRIDGE_')),
        ),
        stdio: 'ignore',
      },
    );
    children.push(child);
    const exited = new Promise<string | number | null>((resolve) =>
      child.once('exit', (code, signal) => resolve(signal ?? code)),
    );
    // Inside the call: the simulator has rotated (its counter says so), the answer is held.
    for (let waited = 0; (await refreshes(s)) < 1; waited += 20) {
      if (waited > 30_000 || child.exitCode !== null) throw new Error('the child never refreshed');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const inside = await s.runtime.vault.get(connectionId);
    expect(inside.refreshAttemptAt).toEqual(expect.any(Number));
    expect(inside.refreshLeaseUntil).toEqual(expect.any(Number));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    // The dead process's lease lapses (it used the real clock); the row kept its attempt.
    s.clock.shift(2 * 60_000);
    await expectReauthorizationRequired(s, connectionId);
    expect(await refreshes(s)).toBe(1);

    const hook = await hooks.first('connection.reauthorization_required');
    expect(hook.data).toEqual({
      reason: 'the EHR refused the refresh token after an earlier refresh answer was lost',
      reconnectUrl: `${s.url}/api/connections/${connectionId}/reconnect`,
      connectionId,
    });
    expect(hooks.types()).not.toContain('connection.revoked');
  });
});

describe('what is not a lost rotation', () => {
  it('a revocation with nothing uncertain before it is still revoked', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    expect((await refresh(s, connectionId)).status).toBe(200);
    await s.admin('/revoke', {
      method: 'POST',
      body: JSON.stringify({ clientId: 'fhirbridge-sandbox', username: 'AdultFemaleFHIR' }),
    });
    expect(await refresh(s, connectionId)).toEqual({ status: 409, code: 'revoked' });
    expect((await s.runtime.vault.get(connectionId)).state).toBe('revoked');
    const types = await eventTypes(s, connectionId);
    expect(types).toContain('connection.revoked');
    expect(types).not.toContain('connection.reauthorization_required');
  });

  it('a socket dropped before the EHR did anything: the next refresh works and clears the attempt', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    await fault(s, { route: 'token', dropConnection: true, times: 1 });
    expect(await refresh(s, connectionId)).toEqual({ status: 502, code: 'upstream_error' });
    expect(await refreshes(s)).toBe(0);
    expect((await s.runtime.vault.get(connectionId)).refreshAttemptAt).toEqual(expect.any(Number));

    expect((await refresh(s, connectionId)).status).toBe(200);
    const record = await s.runtime.vault.get(connectionId);
    expect(record.state).toBe('active');
    expect(record.refreshAttemptAt).toBeNull();
    expect(await refreshes(s)).toBe(1);
  });

  it('an EHR error answer (503) leaves nothing uncertain: a later revocation is revoked', async () => {
    const s = await up();
    const { connectionId } = await connectPatient(s);
    await fault(s, { route: 'token', errorRate: 1, errorStatus: 503, times: 1 });
    expect((await refresh(s, connectionId)).status).toBe(502);
    expect((await s.runtime.vault.get(connectionId)).refreshAttemptAt).toBeNull();
    await s.admin('/revoke', {
      method: 'POST',
      body: JSON.stringify({ clientId: 'fhirbridge-sandbox', username: 'AdultFemaleFHIR' }),
    });
    expect(await refresh(s, connectionId)).toEqual({ status: 409, code: 'revoked' });
  });
});
