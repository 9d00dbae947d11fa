// Exports to files, from a real SQLite store: the layout, the bytes as stored, and modes that
// keep a patient's record to its owner.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../common/clock.ts';
import type { BridgeError } from '../common/errors.ts';
import type { Store } from '../store/port.ts';
import { resourceWrite } from '../store/resources.contract.ts';
import { exportToFiles } from './files.ts';
import { openRecord, RECORD_BASE } from './record.test-helper.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-export-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let rt: { store: Store; clock: ManualClock };

beforeEach(async () => {
  rt = await openRecord(root);
});

afterEach(async () => {
  await rt.store.close();
});

describe('exportToFiles', () => {
  it('writes a patient record only its owner can read: folders 0700, files 0600', async () => {
    const out = join(mkdtempSync(join(root, 'out-')), 'private', 'record');
    await exportToFiles(rt, 'con_1', { format: 'ndjson', out });
    expect(statSync(join(out, '..')).mode & 0o777).toBe(0o700);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(out)) expect(statSync(join(out, file)).mode & 0o777).toBe(0o600);
    const bundle = join(mkdtempSync(join(root, 'out-')), 'record.json');
    await exportToFiles(rt, 'con_1', { format: 'bundle', out: bundle });
    expect(statSync(bundle).mode & 0o777).toBe(0o600);
  });

  it('writes one Type.ndjson per type, a resource per line as stored', async () => {
    const out = join(mkdtempSync(join(root, 'out-')), 'nested');
    const summary = await exportToFiles(rt, 'con_1', { format: 'ndjson', out });
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
    const summary = await exportToFiles(rt, 'con_1', { format: 'bundle', out });
    const text = readFileSync(out, 'utf8');
    // The stored text goes out untouched (98.60 keeps its precision).
    expect(text).toContain('"valueQuantity":{"value":98.60}');
    const bundle = JSON.parse(text) as { type: string; entry: Array<{ fullUrl: string }> };
    expect(bundle.type).toBe('collection');
    expect(bundle.entry.map((e) => e.fullUrl)).toEqual([
      `${RECORD_BASE}/Observation/o1`,
      `${RECORD_BASE}/Observation/o2`,
      `${RECORD_BASE}/Patient/p1`,
    ]);
    expect(summary.files).toEqual([{ path: out, type: '*', count: 3 }]);
  });

  it('refuses an unknown connection', async () => {
    const error = await exportToFiles(rt, 'con_9', { format: 'ndjson', out: root }).catch(
      (e: unknown) => e,
    );
    expect((error as BridgeError).code).toBe('not_found');
  });
});
