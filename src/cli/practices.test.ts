import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { isBridgeError } from '../common/errors.ts';
import { bundle, pair, writeDirectoryFile } from '../practices/directory.test-helper.ts';
import { createPracticeService } from '../practices/service.ts';
import type { Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { formatTable, registerPracticesCommands } from './practices.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-practice-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('practices CLI', () => {
  let store: Store;
  let lines: string[];
  let opened: number;
  let closed: number;

  beforeEach(async () => {
    store = await openSqliteStore({ path: ':memory:' });
    lines = [];
    opened = 0;
    closed = 0;
  });

  afterEach(async () => {
    await store.close();
  });

  /** Runs one command line against a fresh program, as `fhirbridge practices …` would. */
  async function run(...args: string[]): Promise<string[]> {
    const program = new Command('fhirbridge').exitOverride();
    program.configureOutput({
      writeErr: (s) => lines.push(s.trim()),
      writeOut: (s) => lines.push(s.trim()),
    });
    registerPracticesCommands(
      program,
      async () => {
        opened++;
        return {
          practices: createPracticeService({
            repo: store.practices,
            clock: new ManualClock(),
            allowLoopbackHttp: false,
          }),
          close: async () => {
            closed++;
          },
        };
      },
      (line) => lines.push(line),
    );
    const start = lines.length;
    await program.parseAsync(['node', 'fhirbridge', 'practices', ...args]);
    return lines.slice(start);
  }

  const directory = () =>
    writeDirectoryFile(
      join(mkdtempSync(join(root, 't-')), 'dir.json'),
      bundle([
        ...pair('JAFJCD', 'FHIR R4 Prodtest EMR', { city: 'Westborough', state: 'MA' }),
        ...pair('SPF001', 'Springfield Family Medicine', { city: 'Springfield', state: 'IL' }),
        { resource: { resourceType: 'Location', id: 'x' } },
      ]),
    );

  it('imports a file and prints the summary; opens and closes once', async () => {
    const path = directory();
    const out = await run('import', path);
    expect(out[0]).toMatch(new RegExp(`^imported ${path}: 2 practices from 5 entries in \\d+ ms$`));
    expect(out[1]).toBe('  added 2, updated 0, unchanged 0, vanished 0');
    expect(out[2]).toBe('  skipped 1:');
    expect(out[3]).toBe(
      '    1 × resourceType "Location" is neither Endpoint nor Organization (e.g. entry[4])',
    );
    expect([opened, closed]).toEqual([1, 1]);
  });

  it('treats a URL argument as a URL (and the policy applies to it)', async () => {
    const error = await run('import', 'http://directory.example/endpoints').catch(
      (e: unknown) => e,
    );
    expect(isBridgeError(error, 'invalid_request')).toBe(true);
    expect((error as Error).message).toMatch(/plain http/);
    expect(closed).toBe(1);
  });

  it('searches and prints a table', async () => {
    await run('import', directory());
    expect(await run('search', 'springfeld')).toEqual([
      'ID      NAME                         PLACE            MATCH  BASE',
      'SPF001  Springfield Family Medicine  Springfield, IL  fuzzy  https://fhir4.healow.com/fhir/r4/SPF001',
    ]);
    expect(await run('search', 'nothing-like-it')).toEqual([
      'no practice matches "nothing-like-it"',
    ]);
    expect((await run('search', 'f', '--limit', '1')).length).toBe(2); // header + one of two
  });

  it('adds a generic practice and lists it', async () => {
    const out = await run(
      'add',
      '--id',
      'ehr1',
      '--name',
      'Some EHR',
      '--base',
      'https://ehr.example/fhir/',
    );
    expect(out).toEqual([
      'added:',
      'ehr1  Some EHR',
      '  base:          https://ehr.example/fhir',
      '  vendor:        generic',
      '  registration:  (default for its environment)',
      '  source:        operator',
      '  status:        active',
      '  place:         -',
      '  discovery:     unchecked',
    ]);
    const list = await run('list', '--source', 'operator');
    expect(list[0]).toMatch(/^ID\s+NAME\s+PLACE\s+SOURCE\s+STATUS\s+HEALTH\s+BASE$/);
    expect(list[1]).toMatch(
      /^ehr1\s+Some EHR\s+-\s+operator\s+active\s+-\s+https:\/\/ehr.example\/fhir$/,
    );
    expect(list[2]).toBe('1-1 of 1');
  });

  it('refuses plain http and bad options', async () => {
    const http = await run(
      'add',
      '--id',
      'x',
      '--name',
      'x',
      '--base',
      'http://ehr.example/fhir',
    ).catch((e: unknown) => e);
    expect(isBridgeError(http, 'invalid_request')).toBe(true);
    const vendor = await run(
      'add',
      '--id',
      'x',
      '--name',
      'x',
      '--base',
      'https://x/f',
      '--vendor',
      'epic',
    ).catch((e: unknown) => e);
    expect(isBridgeError(vendor, 'invalid_request')).toBe(true);
    expect((vendor as Error).message).toBe('invalid practice: vendor: must be healow or generic');
    const limit = await run('search', 'x', '--limit', '0').catch((e: unknown) => e);
    expect((limit as { code?: string }).code).toBe('commander.invalidArgument');
  });

  it('disables, enables, shows and checks', async () => {
    await run('import', directory());
    expect(await run('disable', 'JAFJCD', '--reason', 'patient API off')).toEqual([
      'JAFJCD: disabled (patient API off)',
    ]);
    expect(await run('search', 'prodtest')).toEqual(['no practice matches "prodtest"']);
    expect(await run('enable', 'JAFJCD')).toEqual(['JAFJCD: active']);
    expect((await run('show', 'JAFJCD'))[5]).toBe('  status:        active');
    // A check that fails without any network call: the policy forbids this base.
    await store.practices.insert({
      ...(await store.practices.get('JAFJCD'))!,
      id: 'plain',
      base: 'http://ehr.example/fhir',
    });
    expect(await run('check', 'plain')).toEqual([
      expect.stringMatching(
        /^plain: discovery FAILING \(2026-01-01T00:00:00.000Z\): FHIR base URL "http:\/\/ehr.example\/fhir" is plain http/,
      ),
    ]);
    const missing = await run('check', 'nope').catch((e: unknown) => e);
    expect(isBridgeError(missing, 'not_found')).toBe(true);
  });
});

describe('formatTable', () => {
  it('pads columns, cuts long cells, leaves the last column whole', () => {
    expect(
      formatTable(['A', 'B', 'C'], [['1', 'x'.repeat(12), 'last column is long']], 10),
    ).toEqual(['A  B           C', '1  xxxxxxxxx…  last column is long']);
  });
});
