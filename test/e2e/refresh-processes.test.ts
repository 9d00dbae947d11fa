// Separate fhirbridge processes on one store (what API and worker processes do), on one SQLite
// file and on PostgreSQL: a refresh due in two processes at once calls healow once, and a
// process killed while it holds the refresh lease holds it only until the lease lapses. healow's
// refresh tokens are single-use, so a double refresh would show: the second would be refused
// (invalid_grant) and the connection lost.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  dropSchema,
  freshSchema,
  TEST_POSTGRES_URL,
} from '../../src/store/postgres/test-schema.test-helper.ts';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

const RUN_TS = fileURLToPath(new URL('../../bin/run-ts.mjs', import.meta.url));
const CHILD = fileURLToPath(new URL('./helpers/refresh-child.ts', import.meta.url));
const OFFSET_ENV = 'REFRESH_CHILD_CLOCK_OFFSET_MS';
/** Runs first in a child: its clock is the test's (real time plus the offset the test moved). */
const CLOCK_PRELOAD = `data:text/javascript,${encodeURIComponent(
  `const o = Number(process.env.${OFFSET_ENV} ?? 0); const n = Date.now; Date.now = () => n() + o;`,
)}`;
const MINUTE = 60_000;

interface Child {
  process: ChildProcess;
  ready: Promise<void>;
  /** What the child printed after refreshing: the connection's state and token version. */
  result: Promise<{ state: string; tokenVersion: number }>;
  go(): void;
}

let stack: Stack | undefined;
let schema: string | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await stack?.close();
  if (schema) await dropSchema(schema);
  stack = schema = undefined;
});

const backends = [
  { name: 'one SQLite file', store: () => undefined },
  {
    name: 'PostgreSQL',
    store: () => {
      schema = freshSchema();
      return { kind: 'postgres', url: TEST_POSTGRES_URL, schema };
    },
  },
];

// Each test starts child processes (a runtime each): seconds apiece on a loaded machine.
describe.each(backends)('bridge processes on $name', { timeout: 90_000 }, ({ store }) => {
  let offset = 0;
  const shift = (ms: number) => {
    stack?.clock.shift(ms);
    offset += ms;
  };

  async function up(): Promise<{ s: Stack; connectionId: string; configFile: string }> {
    offset = 0;
    const storeConfig = store();
    const s = await startStack(storeConfig ? { config: { store: storeConfig } } : {});
    stack = s;
    const { connectionId } = await connectPatient(s);
    const configFile = join(s.dataDir, 'child-config.json');
    writeFileSync(configFile, JSON.stringify(s.runtime.config), { mode: 0o600 });
    return { s, connectionId, configFile };
  }

  function child(configFile: string, connectionId: string): Child {
    const proc = spawn(
      process.execPath,
      ['--import', CLOCK_PRELOAD, RUN_TS, CHILD, configFile, connectionId],
      {
        env: {
          ...Object.fromEntries(
            Object.entries(process.env).filter(([k]) => !k.startsWith('FHIRBRIDGE_')),
          ),
          [OFFSET_ENV]: String(offset),
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    children.push(proc);
    let out = '';
    let err = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      err += chunk;
    });
    const ready = new Promise<void>((resolve, reject) => {
      proc.stdout?.on('data', (chunk: Buffer) => {
        out += chunk;
        if (out.startsWith('ready\n')) resolve();
      });
      proc.once('exit', (code, signal) =>
        reject(new Error(`child ended (${signal ?? code}) before it was ready: ${err}`)),
      );
    });
    const result = new Promise<{ state: string; tokenVersion: number }>((resolve, reject) => {
      proc.once('exit', (code, signal) => {
        const line = out.split('\n')[1];
        if (code === 0 && line)
          resolve(JSON.parse(line) as { state: string; tokenVersion: number });
        else reject(new Error(`child ended (${signal ?? code}): ${err}`));
      });
    });
    // Either may never be awaited (a killed child): their rejections are expected then.
    ready.catch(() => {});
    result.catch(() => {});
    return { process: proc, ready, result, go: () => proc.stdin?.write('go\n') };
  }

  async function refreshes(s: Stack): Promise<number> {
    const counters = (await (await s.admin('/counters/JAFJCD')).json()) as { refreshes: number };
    return counters.refreshes;
  }

  async function fault(s: Stack, spec: Record<string, unknown>): Promise<void> {
    const response = await s.admin('/faults', { method: 'POST', body: JSON.stringify(spec) });
    expect(response.status).toBe(201);
  }

  it('two processes due for the same refresh at once call the token endpoint once', async () => {
    const { s, connectionId, configFile } = await up();
    // 56 minutes on: inside the 5-minute refresh leeway of the one-hour access token.
    shift(56 * MINUTE);
    // The winner's token call takes a while, so the other process finds the lease held.
    await fault(s, { route: 'token', latencyMs: 1500, times: 1 });
    const a = child(configFile, connectionId);
    const b = child(configFile, connectionId);
    await Promise.all([a.ready, b.ready]);
    a.go();
    b.go();
    const [ra, rb] = await Promise.all([a.result, b.result]);

    expect(await refreshes(s)).toBe(1);
    expect(ra).toEqual({ state: 'active', tokenVersion: rb.tokenVersion });
    expect(rb.state).toBe('active');
    const record = await s.runtime.store.connections.get(connectionId);
    expect(record?.refreshLeaseUntil).toBeNull();
    expect(record?.refreshAttemptAt).toBeNull();
    // The rotated refresh token is the one stored: the next refresh works.
    expect((await s.runtime.vault.refresh(connectionId, { force: true })).state).toBe('active');
    expect(await refreshes(s)).toBe(2);
  });

  it('a process killed (SIGKILL) holding the refresh lease: another refreshes once the lease lapses', async () => {
    const { s, connectionId, configFile } = await up();
    shift(56 * MINUTE);
    // The token endpoint holds the call without doing anything: no rotation happens.
    await fault(s, { route: 'token', timeout: true, times: 1 });
    const doomed = child(configFile, connectionId);
    await doomed.ready;
    doomed.go();
    // Inside the token call: the fault has caught it (and is used up), the lease is in the row.
    const faults = async () => ((await (await s.admin('/faults')).json()) as unknown[]).length;
    for (let waited = 0; (await faults()) > 0; waited += 20) {
      if (waited > 30_000) throw new Error('the child never called the token endpoint');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const held = await s.runtime.store.connections.get(connectionId);
    if (!held?.refreshLeaseUntil) throw new Error('the child called without the lease');
    doomed.process.kill('SIGKILL');
    await new Promise((resolve) => doomed.process.once('exit', resolve));
    // The dead process's lease stays in the row; its clock said it would last past now.
    expect(held.refreshLeaseUntil).toBeGreaterThan(s.clock.now());
    expect((await s.runtime.store.connections.get(connectionId))?.refreshLeaseUntil).toBe(
      held.refreshLeaseUntil,
    );

    // Past the lease: the next process takes over and refreshes, once.
    shift((held.refreshLeaseUntil ?? 0) - s.clock.now() + 1000);
    const next = child(configFile, connectionId);
    await next.ready;
    next.go();
    expect((await next.result).state).toBe('active');
    expect(await refreshes(s)).toBe(1);
    const record = await s.runtime.store.connections.get(connectionId);
    expect(record?.refreshLeaseUntil).toBeNull();
    expect(record?.refreshAttemptAt).toBeNull();
    expect((await s.runtime.vault.refresh(connectionId, { force: true })).state).toBe('active');
    expect(await refreshes(s)).toBe(2);
  });
});
