// The access log: one line per request, when it completes, carrying the request's id.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxDefaults } from '../cli/setup.ts';
import { createLogger } from '../common/logger.ts';
import { type ConfigInput, loadConfig } from '../config/index.ts';
import { createRuntime, type Runtime } from '../runtime.ts';
import { buildApp } from '../server.ts';

let dataDir: string;
let runtime: Runtime;
const lines: string[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'fhirbridge-request-log-'));
  const config = loadConfig({
    env: {},
    base: sandboxDefaults('http://127.0.0.1:9', 'http://127.0.0.1:8'),
    overrides: { dataDir, logLevel: 'info', publicUrl: 'http://127.0.0.1:8' } as ConfigInput,
  });
  const logger = createLogger({
    level: 'info',
    destination: { write: (line: string) => void lines.push(line) },
  });
  runtime = await createRuntime({ config, logger });
});
afterAll(async () => {
  await runtime.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('request logging', () => {
  it('writes one line per request, at completion, with its id, path and status', async () => {
    const app = buildApp(runtime);
    const res = await app.inject({ url: '/healthz?x=1', headers: { 'x-request-id': 'req-1' } });
    expect(res.statusCode).toBe(200);
    const ours = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.requestId === 'req-1');
    expect(ours.map((line) => line.msg)).toEqual(['request completed']);
    expect(ours[0]).toMatchObject({ req: { method: 'GET', path: '/healthz' }, status: 200 });
    await app.close();
  });
});
