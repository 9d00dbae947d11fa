#!/usr/bin/env node
// The build's second step: the files beside the sources that are not TypeScript (SQL migrations,
// the patient pages' CSS and script) go to the same place under dist/, where the code finds them.
import { cpSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
cpSync(`${root}src`, `${root}dist`, {
  recursive: true,
  filter: (path) => statSync(path).isDirectory() || !path.endsWith('.ts'),
});
