#!/usr/bin/env node
// The `fhirbridge` command. In a checkout it runs the TypeScript sources through tsx (no build
// step while developing); where only the build is installed (`npm run build`, then a production
// install without tsx, as in the Docker image) it runs the compiled JavaScript in dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../src/cli/index.ts', import.meta.url);

async function fromSource() {
  if (!existsSync(fileURLToPath(source))) return undefined;
  try {
    const { register } = await import('tsx/esm/api');
    register();
  } catch {
    return undefined; // tsx is a development dependency: absent from a production install
  }
  return import(source.href);
}

const cli = (await fromSource()) ?? (await import('../dist/cli/index.js'));
await cli.main(process.argv);
