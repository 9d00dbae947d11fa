// `fhirbridge export`: NDJSON per type into a folder, one Bundle into a file, from a real store.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import type { Runtime } from '../runtime.ts';
import { connection } from '../store/contract.ts';
import { resourceWrite } from '../store/contract-resources.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { exportRecord, registerExportCommand } from './export.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-export-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let store: Store;
let rt: Pick<Runtime, 'store' | 'clock' | 'vault'>;

beforeEach(async () => {
  store = await openSqliteStore({ path: join(mkdtempSync(join(root, 'db-')), 'store.db') });
  await store.connections.insert(connection({ id: 'con_1' }));
  await store.resources.savePage({
    connectionId: 'con_1',
    practiceBase: 'https://fhir4.healow.com/fhir/r4/JAFJCD',
    fetchedAt: 1,
    source: 'x',
    sweep: null,
    resources: [
      resourceWrite({ id: 'o1' }),
      resourceWrite({ id: 'o2' }),
      resourceWrite({ type: 'Patient', id: 'p1' }),
    ],
  });
  rt = {
    store,
    clock: new ManualClock(Date.UTC(2026, 0, 1)),
    vault: {
      get: async (id: string) => {
        const c = await store.connections.get(id);
        if (!c) throw new BridgeError('not_found', `unknown connection "${id}"`);
        return c;
      },
    } as unknown as Runtime['vault'],
  };
});

afterEach(async () => {
  await store.close();
  vi.restoreAllMocks();
});

describe('exportRecord', () => {
  it('writes a patient record only its owner can read: folders 0700, files 0600', async () => {
    const out = join(mkdtempSync(join(root, 'out-')), 'private', 'record');
    await exportRecord(rt, 'con_1', { format: 'ndjson', out });
    expect(statSync(join(out, '..')).mode & 0o777).toBe(0o700);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(out)) expect(statSync(join(out, file)).mode & 0o777).toBe(0o600);
    const bundle = join(mkdtempSync(join(root, 'out-')), 'record.json');
    await exportRecord(rt, 'con_1', { format: 'bundle', out: bundle });
    expect(statSync(bundle).mode & 0o777).toBe(0o600);
  });

  it('writes one Type.ndjson per type, a resource per line as stored', async () => {
    const out = join(mkdtempSync(join(root, 'out-')), 'nested');
    const summary = await exportRecord(rt, 'con_1', { format: 'ndjson', out });
    expect(readdirSync(out).sort()).toEqual(['Observation.ndjson', 'Patient.ndjson']);
    expect(readFileSync(join(out, 'Observation.ndjson'), 'utf8')).toBe(
      `${resourceWrite({ id: 'o1' }).json}\n${resourceWrite({ id: 'o2' }).json}\n`,
    );
    expect(summary.files.map((f) => [f.type, f.count])).toEqual([
      ['Observation', 2],
      ['Patient', 1],
    ]);
  });

  it('writes one collection Bundle', async () => {
    const out = join(mkdtempSync(join(root, 'out-')), 'record.json');
    await exportRecord(rt, 'con_1', { format: 'bundle', out });
    const text = readFileSync(out, 'utf8');
    // The stored text goes out untouched (98.60 keeps its precision).
    expect(text).toContain('"valueQuantity":{"value":98.60}');
    const bundle = JSON.parse(text) as { type: string; entry: Array<{ fullUrl: string }> };
    expect(bundle.type).toBe('collection');
    expect(bundle.entry.map((e) => e.fullUrl)).toEqual([
      'https://fhir4.healow.com/fhir/r4/JAFJCD/Observation/o1',
      'https://fhir4.healow.com/fhir/r4/JAFJCD/Observation/o2',
      'https://fhir4.healow.com/fhir/r4/JAFJCD/Patient/p1',
    ]);
  });

  it('refuses an unknown connection', async () => {
    const error = await exportRecord(rt, 'con_9', { format: 'ndjson', out: root }).catch(
      (e: unknown) => e,
    );
    expect((error as BridgeError).code).toBe('not_found');
  });
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
