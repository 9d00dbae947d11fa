// `fhirbridge export`: NDJSON per type into a folder, one Bundle into a file, from a real store.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BridgeError } from '../common/errors.ts';
import { openRecord } from '../records/record.test-helper.ts';
import type { Runtime } from '../runtime.ts';
import { registerExportCommand } from './export.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-export-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let rt: Pick<Runtime, 'store' | 'clock'>;

beforeEach(async () => {
  rt = await openRecord(root);
});

afterEach(async () => {
  await rt.store.close();
  vi.restoreAllMocks();
});

describe('fhirbridge export', () => {
  const program = () => {
    const p = new Command('fhirbridge').exitOverride();
    registerExportCommand(p, (fn) => fn(rt as Runtime));
    return p;
  };

  it('parses --format and --out and prints what it wrote', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const out = mkdtempSync(join(root, 'cli-'));
    await program().parseAsync(['export', 'con_1', '--format', 'ndjson', '--out', out], {
      from: 'user',
    });
    expect(readdirSync(out).sort()).toEqual(['Observation.ndjson', 'Patient.ndjson']);
    expect(log.mock.calls.map((c) => String(c[0]))).toEqual([
      expect.stringMatching(/2 {2}Observation .*Observation\.ndjson$/),
      expect.stringMatching(/1 {2}Patient .*Patient\.ndjson$/),
    ]);
  });

  it('refuses another format', async () => {
    const error = await program()
      .parseAsync(['export', 'con_1', '--format', 'csv', '--out', root], { from: 'user' })
      .catch((e: unknown) => e);
    expect((error as BridgeError).code).toBe('invalid_request');
  });
});
