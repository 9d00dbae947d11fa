// The README's API walk-through, run as written: its shell blocks are pasted in order into one
// bash (only the URL of the first line is this test's server), and between them the patient
// signs in at the simulator the way a browser does. A block that fails stops the run.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPatient } from './helpers/connect.ts';
import { type Stack, startStack } from './helpers/stack.ts';

const README = new URL('../../README.md', import.meta.url);

/** The shell blocks of the walk-through, in order. */
function walkThrough(): string[] {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('The walk-through below runs as written');
  const end = text.indexOf('The FHIR proxy (', start);
  expect(start).toBeGreaterThan(0);
  return [...text.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});

describe('README walk-through', () => {
  it('runs as written: key, connection, sign-in, reads through the proxy, reconnect, delete', async () => {
    const blocks = walkThrough();
    expect(blocks).toHaveLength(3);
    const [setup, start, after] = blocks as [string, string, string];
    expect(setup).toContain('export FHIRBRIDGE_URL=http://localhost:8080\n');

    // The CLI opens the same data folder as the running server, as on one machine.
    const bash = spawn('bash', ['-e'], {
      cwd: new URL('../..', import.meta.url),
      env: {
        ...process.env,
        FHIRBRIDGE_DATA_DIR: stack.dataDir,
        FHIRBRIDGE_PUBLIC_URL: stack.url,
        FHIRBRIDGE_SIMULATOR_PORT: new URL(stack.sim.url).port,
        FHIRBRIDGE_CONFIG: '',
        // npx must find the checkout's own command, never fetch one.
        npm_config_offline: 'true',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    bash.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    bash.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => bash.on('close', resolve));
    const marker = async (name: string) => {
      for (;;) {
        const at = out.indexOf(`${name} `);
        if (at >= 0) return out.slice(at + name.length + 1).split('\n')[0]!;
        const code = await Promise.race([
          exited,
          new Promise<'wait'>((resolve) => setTimeout(() => resolve('wait'), 50)),
        ]);
        // Everything bash printed has arrived by the time it closed: look once more.
        if (code !== 'wait' && !out.includes(`${name} `))
          throw new Error(`bash exited ${code} before ${name}:\n${out}\n${err}`);
      }
    };

    bash.stdin.write(setup.replace('http://localhost:8080', stack.url));
    bash.stdin.write(start);
    bash.stdin.write('echo "__STARTED__ $(echo "$STARTED" | jq -c .)"\n');
    const started = JSON.parse(await marker('__STARTED__')) as { id: string; authorizeUrl: string };
    expect(started.authorizeUrl).toMatch(new RegExp(`^${stack.url}/launch/`));

    // The patient opens the printed link and signs in.
    const { outcome } = await connectPatient(stack, { start: async () => started });
    expect(outcome).toBe('connected');

    bash.stdin.write(after);
    bash.stdin.write('echo "__DONE__ $PATIENT"\nexit\n');
    bash.stdin.end();
    const patient = await marker('__DONE__');
    expect(await exited, err).toBe(0);

    // The last block disconnected it: revoked, its tokens gone.
    const connection = await stack.runtime.vault.get(started.id);
    expect(connection).toMatchObject({ state: 'revoked', stateReason: 'disconnected by the app' });
    expect(patient).toMatch(/^[A-Za-z0-9.-]{43,64}$/);
    expect(out).toContain(`"id":"${started.id}"`);
    expect(out).toContain('"state":"active"');
    // The proxy passes healow's pretty-printed JSON on byte for byte.
    expect(out).toMatch(/"resourceType": ?"Patient"/);
    expect(out).toMatch(/"resourceType": ?"CapabilityStatement"/);
    expect(out).toMatch(/"resourceType": ?"Bundle"/);
  });
});
