import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { type BridgeError, isBridgeError } from '../common/errors.ts';
import { createSimulator } from '../simulator/index.ts';
import { startTestServer, type TestServer } from '../smart/server.test-helper.ts';
import type { PracticeRecord, Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import {
  bundle,
  generatedDirectoryJson,
  HEALOW_BASE,
  pair,
  writeDirectoryFile,
} from './directory.test-helper.ts';
import {
  createPracticeService,
  type PracticeService,
  type PracticeServiceDeps,
} from './service.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-practices-'));
let fileNo = 0;
const file = (json: string) => writeDirectoryFile(join(root, `dir-${fileNo++}.json`), json);

afterAll(() => rmSync(root, { recursive: true, force: true }));

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBridgeError(error), `expected a BridgeError, got ${String(error)}`).toBe(true);
  return (error as BridgeError).code;
}

describe('practice service', () => {
  let store: Store;
  let clock: ManualClock;
  let service: PracticeService;
  const servers: TestServer[] = [];

  const make = (overrides: Partial<PracticeServiceDeps> = {}) =>
    createPracticeService({ repo: store.practices, clock, allowLoopbackHttp: false, ...overrides });

  beforeEach(async () => {
    store = await openSqliteStore({ path: ':memory:' });
    clock = new ManualClock();
    service = make();
  });

  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
    await store.close();
  });

  /** Every stored practice, for "nothing changed" comparisons. */
  const snapshot = () => store.practices.list({ limit: 100_000 });

  describe('import', () => {
    it('imports 17,000 practices from a file, then re-imports idempotently', async () => {
      const path = file(generatedDirectoryJson(17_000));
      const first = await service.importDirectory({ path });
      expect(first).toMatchObject({
        source: path,
        entries: 34_000,
        practices: 17_000,
        added: 17_000,
        updated: 0,
        unchanged: 0,
        vanished: 0,
        skipped: { count: 0, reasons: [] },
      });
      expect(await store.practices.count({ status: ['active'], source: 'directory' })).toBe(17_000);

      clock.advance(1000);
      const again = await service.importDirectory({ path });
      expect(again).toMatchObject({ added: 0, updated: 0, unchanged: 17_000, vanished: 0 });
      // Unchanged rows keep their times: a re-import is not an edit.
      const [sample] = await store.practices.list({ limit: 1 });
      expect(sample?.updatedAt).toBe(clock.now() - 1000);
    });

    it('marks vanished practices, brings them back, and leaves operator ones alone', async () => {
      await service.addPractice({ id: 'mine', name: 'My EHR', base: 'https://ehr.example/fhir' });
      const all = [
        ...pair('AAAAAA', 'Alpha'),
        ...pair('BBBBBB', 'Beta'),
        ...pair('CCCCCC', 'Gamma'),
      ];
      await service.importDirectory({ path: file(bundle(all)) });

      clock.advance(1000);
      const partial = await service.importDirectory({
        path: file(bundle([...pair('AAAAAA', 'Alpha'), ...pair('CCCCCC', 'Gamma Clinic')])),
      });
      expect(partial).toMatchObject({ added: 0, updated: 1, unchanged: 1, vanished: 1 });
      expect(await service.getPractice('BBBBBB')).toMatchObject({
        status: 'vanished',
        statusReason: 'no longer in the endpoint directory',
        updatedAt: clock.now(),
      });
      expect(await service.getPractice('mine')).toMatchObject({
        status: 'active',
        source: 'operator',
      });
      expect((await service.searchPractices('beta')).length).toBe(0);

      const back = await service.importDirectory({ path: file(bundle(all)) });
      expect(back).toMatchObject({ added: 0, updated: 2, unchanged: 1, vanished: 0 });
      expect((await service.getPractice('BBBBBB')).status).toBe('active');
      expect((await service.searchPractices('beta')).map((m) => m.practice.id)).toEqual(['BBBBBB']);
    });

    it('reports skipped entries and collisions with operator practices', async () => {
      await service.addPractice({ id: 'AAAAAA', name: 'Mine', base: 'https://ehr.example/A' });
      const summary = await service.importDirectory({
        path: file(
          bundle([
            ...pair('AAAAAA', 'Alpha'),
            ...pair('BBBBBB', 'Beta'),
            { resource: { resourceType: 'Location', id: 'x' } },
            { resource: { resourceType: 'Location', id: 'y' } },
          ]),
        ),
      });
      expect(summary).toMatchObject({ entries: 6, practices: 2, added: 1 });
      expect(summary.skipped).toEqual({
        count: 3,
        reasons: [
          {
            reason: 'resourceType "Location" is neither Endpoint nor Organization',
            count: 2,
            examples: ['entry[4]', 'entry[5]'],
          },
          { reason: 'id belongs to an operator practice', count: 1, examples: ['AAAAAA'] },
        ],
      });
      expect((await service.getPractice('AAAAAA')).name).toBe('Mine');
    });

    const badFiles: Array<[string, string]> = [
      ['not JSON', '<html><body>502 Bad Gateway</body></html>'],
      ['truncated JSON', generatedDirectoryJson(50).slice(0, 20_000)],
      ['not a Bundle', JSON.stringify({ resourceType: 'OperationOutcome', issue: [] })],
      [
        'an entry without address',
        bundle([
          ...pair('NEWONE', 'New'),
          ...pair('NOADDR', 'x', { endpoint: { address: undefined } }),
        ]),
      ],
      [
        'a pair with mismatched ids',
        bundle([...pair('NEWONE', 'New'), pair('AAAAAA', 'a')[0], pair('ZZZZZZ', 'z')[1]]),
      ],
      [
        'an address that is not a URL',
        bundle([...pair('NEWONE', 'New'), ...pair('BADURL', 'x', { base: 'not a url' })]),
      ],
      [
        'a plain http address',
        bundle([
          ...pair('NEWONE', 'New'),
          ...pair('PLAIN', 'x', { base: 'http://fhir4.healow.com/fhir/r4/PLAIN' }),
        ]),
      ],
    ];
    for (const [problem, json] of badFiles) {
      it(`rejects a file with ${problem} and writes nothing`, async () => {
        await service.importDirectory({
          path: file(bundle([...pair('AAAAAA', 'Alpha'), ...pair('BBBBBB', 'Beta')])),
        });
        const before = await snapshot();
        clock.advance(1000);
        const error = await service.importDirectory({ path: file(json) }).catch((e: unknown) => e);
        expect(isBridgeError(error, 'invalid_request'), String(error)).toBe(true);
        expect((error as Error).message).toMatch(
          /^directory rejected, nothing imported: \d+ problem/,
        );
        expect(await snapshot()).toEqual(before);
      });
    }

    it('a missing file is not_found; a directory is not a file', async () => {
      expect(await codeOf(service.importDirectory({ path: join(root, 'missing.json') }))).toBe(
        'not_found',
      );
      expect(await codeOf(service.importDirectory({ path: root }))).toBe('invalid_request');
    });

    it('imports from an http(s) URL, plain http only on loopback when allowed', async () => {
      const json = generatedDirectoryJson(300);
      const server = await startTestServer(() => ({
        body: json,
        headers: { 'content-type': 'application/json' },
      }));
      servers.push(server);
      const url = `${server.url}/apps/api/v1/fhir/activated_clinical_endpoints`;

      expect(await codeOf(service.importDirectory({ url }))).toBe('invalid_request');
      expect(server.requests).toHaveLength(0);

      const relaxed = make({ allowLoopbackHttp: true });
      expect(await relaxed.importDirectory({ url })).toMatchObject({ source: url, added: 300 });
      expect(server.requests[0]?.headers.accept).toBe('application/fhir+json, application/json');

      server.handle(() => ({ status: 503, body: 'busy' }));
      const error = (await relaxed
        .importDirectory({ url })
        .catch((e: unknown) => e)) as BridgeError;
      expect(error.code).toBe('upstream_error');
      expect(error.message).toBe(`directory URL ${url} answered HTTP 503`);
      expect(await codeOf(relaxed.importDirectory({ url: 'ftp://127.0.0.1/x' }))).toBe(
        'invalid_request',
      );
      expect(await codeOf(relaxed.importDirectory({ url: 'not a url' }))).toBe('invalid_request');
      expect(await store.practices.count({ status: ['active'] })).toBe(300);
    });

    it('refuses a download larger than the cap, writing nothing', async () => {
      const server = await startTestServer(() => ({ body: generatedDirectoryJson(200) }));
      servers.push(server);
      const capped = make({ allowLoopbackHttp: true, directory: { maxBytes: 10_000 } });
      const error = await capped.importDirectory({ url: server.url }).catch((e: unknown) => e);
      expect((error as Error).message).toMatch(/larger than/);
      expect(await store.practices.count()).toBe(0);
    });
  });

  describe('search and list', () => {
    beforeEach(async () => {
      await service.importDirectory({
        path: file(
          bundle([
            ...pair('JAFJCD', 'FHIR R4 Prodtest EMR', { city: 'Westborough' }),
            ...pair('SPF001', 'Springfield Family Medicine', { city: 'Springfield' }),
            ...pair('PENA01', 'Clínica Peña', { city: 'San José' }),
          ]),
        ),
      });
    });

    it('searches by name or city with typos, and sees its own writes at once', async () => {
      expect((await service.searchPractices('prodtst')).map((m) => m.practice.id)).toEqual([
        'JAFJCD',
      ]);
      expect((await service.searchPractices('springfeld'))[0]?.practice.id).toBe('SPF001');
      expect((await service.searchPractices('san jose'))[0]?.practice.id).toBe('PENA01');
      await service.addPractice({
        id: 'op',
        name: 'Springfield Urgent Care',
        base: 'https://x.example/fhir',
      });
      expect((await service.searchPractices('springfield urg')).map((m) => m.practice.id)).toEqual([
        'op',
      ]);
      await service.disablePractice('op');
      expect(await service.searchPractices('springfield urg')).toEqual([]);
    });

    it("notices another process's import within indexCheckMs", async () => {
      expect(await service.searchPractices('zebra')).toEqual([]);
      const other = make(); // another process on the same database
      await other.importDirectory({ path: file(bundle(pair('ZEBRA1', 'Zebra Clinic'))) });
      expect(await service.searchPractices('zebra')).toEqual([]);
      clock.advance(2_000);
      expect((await service.searchPractices('zebra')).map((m) => m.practice.id)).toEqual([
        'ZEBRA1',
      ]);
    });

    it('lists with paging and filters', async () => {
      const page = await service.listPractices({ limit: 2 });
      expect(page.total).toBe(3);
      expect(page.practices.map((p) => p.id)).toEqual(['PENA01', 'JAFJCD']);
      expect(
        (await service.listPractices({ limit: 2, offset: 2 })).practices.map((p) => p.id),
      ).toEqual(['SPF001']);
      expect((await service.listPractices({ limit: 10, source: 'operator' })).total).toBe(0);
    });
  });

  describe('add by hand', () => {
    it('adds a generic SMART base with nothing healow-specific', async () => {
      const added = await service.addPractice({
        id: 'epic-sandbox',
        name: 'Some Epic Sandbox',
        base: 'https://fhir.epic.example/interconnect-fhir-oauth/api/FHIR/R4/',
      });
      expect(added).toMatchObject({
        id: 'epic-sandbox',
        base: 'https://fhir.epic.example/interconnect-fhir-oauth/api/FHIR/R4',
        vendor: 'generic',
        registration: null,
        source: 'operator',
        status: 'active',
        importedAt: clock.now(),
      });
    });

    it('adds a healow base with a registration, which must exist', async () => {
      const strict = make({ registrations: ['sandbox', 'production'] });
      const added = await strict.addPractice({
        id: 'JAFJCD',
        name: 'FHIR R4 Prodtest EMR',
        base: `${HEALOW_BASE}/JAFJCD`,
        vendor: 'healow',
        registration: 'sandbox',
      });
      expect(added).toMatchObject({ vendor: 'healow', registration: 'sandbox' });
      expect(
        await codeOf(
          strict.addPractice({ id: 'x', name: 'x', base: 'https://x/fhir', registration: 'nope' }),
        ),
      ).toBe('invalid_request');
    });

    it('refuses plain http, except on loopback when allowed', async () => {
      const base = 'http://ehr.example/fhir';
      expect(await codeOf(service.addPractice({ id: 'a', name: 'a', base }))).toBe(
        'invalid_request',
      );
      expect(
        await codeOf(
          service.addPractice({ id: 'b', name: 'b', base: 'http://127.0.0.1:9090/fhir/r4/X' }),
        ),
      ).toBe('invalid_request');
      const relaxed = make({ allowLoopbackHttp: true });
      expect(await codeOf(relaxed.addPractice({ id: 'c', name: 'c', base }))).toBe(
        'invalid_request',
      );
      for (const [id, loopback] of [
        ['d', 'http://127.0.0.1:9090/fhir/r4/X'],
        ['e', 'http://localhost:9090/fhir'],
        ['f', 'http://[::1]:9090/fhir'],
      ] as const) {
        expect((await relaxed.addPractice({ id, name: id, base: loopback })).base).toBe(loopback);
      }
      expect(
        await codeOf(relaxed.addPractice({ id: 'g', name: 'g', base: 'https://x/fhir?tenant=1' })),
      ).toBe('invalid_request');
    });

    it('refuses a duplicate id or a base another practice has', async () => {
      await service.addPractice({ id: 'a', name: 'a', base: 'https://x/fhir' });
      expect(
        await codeOf(service.addPractice({ id: 'a', name: 'a2', base: 'https://y/fhir' })),
      ).toBe('conflict');
      expect(
        await codeOf(service.addPractice({ id: 'b', name: 'b', base: 'https://x/fhir/' })),
      ).toBe('conflict');
    });
  });

  describe('health and status', () => {
    const smartConfiguration = (base: string) => ({
      issuer: base,
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
    });

    it('checkPractice records a passing discovery', async () => {
      const server = await startTestServer((req) =>
        req.url === '/fhir/.well-known/smart-configuration'
          ? { body: smartConfiguration(`${server.url}/fhir`) }
          : { status: 404 },
      );
      servers.push(server);
      const relaxed = make({ allowLoopbackHttp: true });
      await relaxed.addPractice({ id: 'p', name: 'p', base: `${server.url}/fhir` });
      clock.advance(5000);
      expect((await relaxed.checkPractice('p')).health).toEqual({
        lastCheckedAt: clock.now(),
        discoveryOk: true,
        lastError: null,
      });
      // No cache between checks: a practice that breaks shows as broken at the next check.
      server.handle(() => ({ status: 500 }));
      clock.advance(1000);
      const broken = await relaxed.checkPractice('p');
      expect(broken.health.discoveryOk).toBe(false);
      expect(broken.health.lastCheckedAt).toBe(clock.now());
      expect(broken.health.lastError).toMatch(/smart-configuration: HTTP 500; metadata: HTTP 500/);
      expect(server.requests.filter((r) => r.url.endsWith('smart-configuration'))).toHaveLength(2);
    });

    /** fetch failing the way each network failure does in Node (undici). */
    const failing =
      (cause: unknown): typeof fetch =>
      async () => {
        throw new TypeError('fetch failed', { cause });
      };
    const networkFailures = {
      refused: failing(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
      reset: failing(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })),
      unknownHost: failing(
        Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }),
      ),
      timeout: async () => {
        throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
      },
    } satisfies Record<string, typeof fetch>;

    it('says "unreachable or refused" for every network failure of a check, never which', async () => {
      const base = 'https://ehr.example.org/fhir/r4';
      await service.addPractice({ id: 'p', name: 'p', base });
      const seen = new Set<string | null>();
      for (const fetch of Object.values(networkFailures)) {
        seen.add((await make({ fetch }).checkPractice('p')).health.lastError);
      }
      expect([...seen]).toEqual([
        `SMART discovery failed for ${base}: .well-known/smart-configuration: unreachable or refused; metadata: unreachable or refused`,
      ]);
    });

    it('says "unreachable or refused" for every network failure of an import, never which', async () => {
      const url = 'https://ehr.example.org/apps/api/v1/fhir/activated_clinical_endpoints';
      const messages = new Set<string>();
      for (const fetch of Object.values(networkFailures)) {
        const error = (await make({ fetch })
          .importDirectory({ url })
          .catch((e: unknown) => e)) as BridgeError;
        expect(error.code).toBe('upstream_error');
        messages.add(error.message);
      }
      expect([...messages]).toEqual([`directory URL ${url} is unreachable or refused`]);
    });

    it('never calls a base the policy forbids, even to check it', async () => {
      const server = await startTestServer(() => ({ body: smartConfiguration('x') }));
      servers.push(server);
      const relaxed = make({ allowLoopbackHttp: true });
      await relaxed.addPractice({ id: 'p', name: 'p', base: `${server.url}/fhir` });
      const checked = await service.checkPractice('p'); // the production policy
      expect(checked.health).toMatchObject({ discoveryOk: false });
      expect(checked.health.lastError).toMatch(/plain http/);
      expect(server.requests).toHaveLength(0);
      expect(await codeOf(service.checkPractice('unknown'))).toBe('not_found');
    });

    it('disables and enables; a vanished practice can be neither', async () => {
      await service.importDirectory({
        path: file(bundle([...pair('AAAAAA', 'A'), ...pair('BBBBBB', 'B')])),
      });
      clock.advance(10);
      expect(await service.disablePractice('AAAAAA', 'patient API switched off')).toMatchObject({
        status: 'disabled',
        statusReason: 'patient API switched off',
        updatedAt: clock.now(),
      });
      // An import does not undo the operator's decision.
      await service.importDirectory({
        path: file(bundle([...pair('AAAAAA', 'A2'), ...pair('BBBBBB', 'B')])),
      });
      expect(await service.getPractice('AAAAAA')).toMatchObject({ status: 'disabled', name: 'A2' });
      expect(await service.enablePractice('AAAAAA')).toMatchObject({
        status: 'active',
        statusReason: null,
      });
      await service.importDirectory({ path: file(bundle(pair('AAAAAA', 'A2'))) });
      expect(await codeOf(service.disablePractice('BBBBBB'))).toBe('conflict');
      expect(await codeOf(service.enablePractice('BBBBBB'))).toBe('conflict');
      expect(await codeOf(service.enablePractice('nope'))).toBe('not_found');
    });
  });

  it('mirrors config practices into the store, searchable, vanished when dropped', async () => {
    const configPractices = [
      {
        id: 'JAFJCD',
        name: 'Sandbox',
        base: `${HEALOW_BASE}/JAFJCD`,
        vendor: 'healow' as const,
        registration: 'sandbox',
      },
    ];
    const withConfig = make({ configPractices });
    expect((await withConfig.searchPractices('sandbox')).map((m) => m.practice.id)).toEqual([
      'JAFJCD',
    ]);
    expect(await withConfig.getPractice('JAFJCD')).toMatchObject({
      source: 'config',
      registration: 'sandbox',
    });
    const dropped = make({ configPractices: [] });
    expect(await dropped.syncConfigPractices()).toMatchObject({ vanished: 1 });
    expect((await store.practices.get('JAFJCD'))?.status).toBe('vanished');
  });

  it('imports the simulator directory and checks a practice against the simulator', async () => {
    const sim = await createSimulator({ port: 0, directorySize: 120 });
    try {
      const relaxed = make({ allowLoopbackHttp: true });
      const summary = await relaxed.importDirectory({
        url: `${sim.url}/apps/api/v1/fhir/activated_clinical_endpoints`,
      });
      expect(summary).toMatchObject({ practices: 120, added: 120, vanished: 0 });
      const found = await relaxed.searchPractices('prodtst');
      expect(found[0]?.practice).toMatchObject({ id: 'JAFJCD', base: sim.fhirBase('JAFJCD') });
      const checked: PracticeRecord = await relaxed.checkPractice('JAFJCD');
      expect(checked.health).toMatchObject({ discoveryOk: true, lastError: null });
    } finally {
      await sim.close();
    }
  });
});
