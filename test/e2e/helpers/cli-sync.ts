// `fhirbridge sync <id>` as a child process of its own, for tests of several processes on one
// store. Every child started here is killed after each test of the file that uses it.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

const BIN = fileURLToPath(new URL('../../../bin/fhirbridge.mjs', import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

export interface CliSync {
  child: ChildProcess;
  /** The exit code, or the signal that ended it. */
  exited: Promise<number | NodeJS.Signals | null>;
  /** Everything it wrote so far, stdout and stderr interleaved. */
  output(): string;
}

/** Starts `fhirbridge --config <file> sync <connection>` with no FHIRBRIDGE_* from the test's environment. */
export function runCliSync(configFile: string, connectionId: string): CliSync {
  const child = spawn(process.execPath, [BIN, '--config', configFile, 'sync', connectionId], {
    // The config file says everything.
    env: Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('FHIRBRIDGE_')),
    ),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk;
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  return { child, exited, output: () => output };
}
