// A second fhirbridge process for refresh races: opens a runtime on the given config (its
// store shared with the test's), says `ready`, and on a `go` line refreshes one connection if
// due, as a server's refresher or an API call would; it prints the connection it ended with.
// Run as `node --import <clock preload> bin/run-ts.mjs refresh-child.ts <config.json> <id>`.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createLogger } from '../../../src/common/logger.ts';
import { loadConfig } from '../../../src/config/index.ts';
import { createRuntime } from '../../../src/runtime.ts';

const [configFile, connectionId] = process.argv.slice(2);
if (!configFile || !connectionId) throw new Error('usage: refresh-child.ts <config.json> <id>');

const config = loadConfig({ env: {}, overrides: JSON.parse(readFileSync(configFile, 'utf8')) });
const runtime = await createRuntime({ config, logger: createLogger({ level: 'silent' }) });
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() !== 'go') continue;
  try {
    const record = await runtime.vault.refresh(connectionId);
    process.stdout.write(
      `${JSON.stringify({ state: record.state, tokenVersion: record.tokenVersion })}\n`,
    );
  } finally {
    lines.close();
    await runtime.close();
  }
}
