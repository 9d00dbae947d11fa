import { describe, expect, it } from 'vitest';
import { type BridgeError, isBridgeError } from '../common/errors.ts';
import { bundle, HEALOW_BASE, pair } from './directory.test-helper.ts';
import { readDirectory } from './directory.ts';

async function* chunks(text: string, size = 97): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const strict = { allowLoopbackHttp: false };
const read = (text: string, policy = strict) => readDirectory(chunks(text), policy);

async function rejected(text: string, policy = strict): Promise<BridgeError> {
  const error = await read(text, policy).catch((e: unknown) => e);
  expect(isBridgeError(error, 'invalid_request'), String(error)).toBe(true);
  return error as BridgeError;
}

describe('readDirectory', () => {
  it('pairs Endpoint and Organization by id into listings, in any order', async () => {
    const [endpointA, orgA] = pair('JAFJCD', 'FHIR R4 Prodtest EMR', {
      city: 'Westborough',
      organization: {
        address: [
          {
            line: [' 2 Technology Dr ', 'Suite 1'],
            city: 'Westborough',
            state: 'MA',
            postalCode: '01581',
          },
        ],
      },
    });
    const [endpointB, orgB] = pair('BFGHDA', 'Riverside Family Medicine', {
      // Multi-byte characters split across chunks must survive decoding.
      organization: { name: 'Clínica Riverside — Família' },
    });
    const contents = await read(bundle([orgB, endpointA, endpointB, orgA]));
    expect(contents.entries).toBe(4);
    expect(contents.skipped).toEqual([]);
    expect(contents.listings).toEqual([
      {
        id: 'JAFJCD',
        name: 'FHIR R4 Prodtest EMR',
        base: `${HEALOW_BASE}/JAFJCD`,
        vendor: 'healow',
        registration: null,
        organizationName: 'FHIR R4 Prodtest EMR',
        addressLine: '2 Technology Dr, Suite 1',
        city: 'Westborough',
        state: 'MA',
        postalCode: '01581',
      },
      {
        id: 'BFGHDA',
        name: 'Clínica Riverside — Família',
        base: `${HEALOW_BASE}/BFGHDA`,
        vendor: 'healow',
        registration: null,
        organizationName: 'Clínica Riverside — Família',
        addressLine: null,
        city: null,
        state: null,
        postalCode: null,
      },
    ]);
  });

  it('removes a trailing slash from the base, trims names, and takes the Endpoint name alone', async () => {
    const [endpoint] = pair('AAAAAA', '  Lonely Endpoint  ', { base: `${HEALOW_BASE}/AAAAAA/` });
    const contents = await read(bundle([endpoint]));
    expect(contents.listings).toMatchObject([
      {
        id: 'AAAAAA',
        name: 'Lonely Endpoint',
        base: `${HEALOW_BASE}/AAAAAA`,
        organizationName: null,
      },
    ]);
  });

  it('skips, with reasons, what is not a practice', async () => {
    const [, orphanOrg] = pair('ORPHAN', 'Org without endpoint');
    const [offEndpoint, offOrg] = pair('OFFOFF', 'Switched off', { endpoint: { status: 'off' } });
    const [nameless, namelessOrg] = pair('NONAME', '', {});
    const contents = await read(
      bundle([
        ...pair('JAFJCD', 'Good'),
        { resource: { resourceType: 'Location', id: 'L1' } },
        { fullUrl: 'x' },
        offEndpoint,
        offOrg,
        nameless,
        namelessOrg,
        { resource: { resourceType: 'Patient', id: 'p' } },
        orphanOrg,
      ]),
    );
    expect(contents.listings.map((l) => l.id)).toEqual(['JAFJCD']);
    expect(contents.skipped).toEqual([
      { id: 'entry[2]', reason: 'resourceType "Location" is neither Endpoint nor Organization' },
      { id: 'entry[3]', reason: 'entry has no resource' },
      { id: 'OFFOFF', reason: 'Endpoint status is off' },
      { id: 'entry[8]', reason: 'resourceType "Patient" is neither Endpoint nor Organization' },
      { id: 'NONAME', reason: 'neither Endpoint nor Organization has a name' },
      { id: 'ORPHAN', reason: 'Organization has no Endpoint with its id' },
    ]);
  });

  it('rejects text that is not JSON', async () => {
    const error = await rejected('<html>Service unavailable</html>');
    expect(error.message).toBe(
      'directory rejected, nothing imported: 1 problem: Bundle: not valid JSON: expected a JSON object at character 0',
    );
    expect((await rejected(`${bundle(pair('A', 'a'))}garbage`)).message).toMatch(/not valid JSON/);
    expect((await rejected(bundle(pair('A', 'a')).slice(0, 150))).message).toMatch(
      /unexpected end of input/,
    );
  });

  it('rejects bytes that are not UTF-8', async () => {
    async function* bad() {
      yield Buffer.from('{"resourceType":"Bundle","entry":[{"resource":{"name":"');
      yield Buffer.from([0xff, 0xfe, 0x41]);
      yield Buffer.from('"}}]}');
    }
    const error = await readDirectory(bad(), strict).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/not UTF-8 text/);
  });

  it('rejects JSON that is not a Bundle', async () => {
    expect((await rejected('[1,2,3]')).message).toMatch(/expected a JSON object, found an array/);
    expect((await rejected('{"resourceType":"OperationOutcome","issue":[]}')).message).toMatch(
      /Bundle: not a FHIR Bundle \(resourceType is "OperationOutcome"\)/,
    );
    expect((await rejected('{"entry":[]}')).message).toMatch(/no resourceType/);
    expect((await rejected('{"resourceType":"Bundle","entry":{}}')).message).toMatch(
      /entry is not an array/,
    );
    expect((await rejected('{"resourceType":"Bundle","type":"searchset"}')).message).toMatch(
      /lists no practice/,
    );
  });

  it('rejects entries without an address, listing each', async () => {
    const [noAddress, orgA] = pair('AAAAAA', 'A', { endpoint: { address: undefined } });
    const [emptyAddress, orgB] = pair('BBBBBB', 'B', { endpoint: { address: ' ' } });
    const error = await rejected(
      bundle([...pair('OK', 'ok'), noAddress, orgA, emptyAddress, orgB]),
    );
    expect(error.message).toBe(
      'directory rejected, nothing imported: 2 problems: ' +
        'entry[2] (Endpoint AAAAAA): no address (the FHIR base URL); ' +
        'entry[4] (Endpoint BBBBBB): no address (the FHIR base URL)',
    );
    expect(error.details?.total).toBe(2);
  });

  it('rejects an address that is not a URL, or not https where production rules apply', async () => {
    const entries = [
      ...pair('NOTURL', 'n', { base: 'fhir4.healow.com/fhir/r4/NOTURL' }),
      ...pair('PLAIN', 'p', { base: 'http://fhir4.healow.com/fhir/r4/PLAIN' }),
      ...pair('LOCAL', 'l', { base: 'http://127.0.0.1:9090/fhir/r4/LOCAL' }),
      ...pair('FTP', 'f', { base: 'ftp://fhir4.healow.com/r4/FTP' }),
    ];
    const error = await rejected(bundle(entries));
    expect(error.message).toContain(
      'entry[0] (Endpoint NOTURL): address: FHIR base URL "fhir4.healow.com/fhir/r4/NOTURL" is not an absolute URL',
    );
    expect(error.message).toContain(
      'entry[2] (Endpoint PLAIN): address: FHIR base URL "http://fhir4.healow.com/fhir/r4/PLAIN" is plain http (https required)',
    );
    expect(error.message).toContain('(Endpoint LOCAL): address');
    expect(error.message).toContain('(Endpoint FTP): address');
    // With loopback http allowed (the simulator), only the loopback one becomes acceptable.
    const relaxed = await rejected(bundle(entries), { allowLoopbackHttp: true });
    expect(relaxed.message).toMatch(/^directory rejected, nothing imported: 3 problems/);
    expect(relaxed.message).toContain(
      'PLAIN): address: FHIR base URL "http://fhir4.healow.com/fhir/r4/PLAIN" is plain http on a host that is not loopback',
    );
    expect(relaxed.message).not.toContain('LOCAL');
  });

  it('rejects a pair with mismatched ids, by reference or by position', async () => {
    const [endpointA] = pair('AAAAAA', 'A');
    const [, orgB] = pair('BBBBBB', 'B');
    expect((await rejected(bundle([...pair('OK', 'ok'), endpointA, orgB]))).message).toContain(
      'entry[3] (Organization BBBBBB): pair with mismatched ids: its Endpoint next to it has id AAAAAA',
    );
    const byReference = pair('CCCCCC', 'C', {
      endpoint: { managingOrganization: { reference: 'Organization/DDDDDD' } },
      organization: { endpoint: [{ reference: 'https://x/fhir/Endpoint/EEEEEE' }] },
    });
    const error = await rejected(bundle(byReference));
    expect(error.message).toContain(
      'entry[0] (Endpoint CCCCCC): pair with mismatched ids: managingOrganization is Organization/DDDDDD',
    );
    expect(error.message).toContain(
      'entry[1] (Organization CCCCCC): pair with mismatched ids: endpoint is Endpoint/EEEEEE',
    );
  });

  it('rejects missing or malformed ids, duplicates, and one base under two codes', async () => {
    const [noId] = pair('X', 'x', { endpoint: { id: undefined } });
    const [badId] = pair('X', 'x', { endpoint: { id: 'has space' } });
    const error = await rejected(
      bundle([
        noId,
        badId,
        ...pair('DUPDUP', 'one'),
        ...pair('DUPDUP', 'two', { base: `${HEALOW_BASE}/OTHER` }),
        ...pair('SAME1', 's1', { base: `${HEALOW_BASE}/SHARED` }),
        ...pair('SAME2', 's2', { base: `${HEALOW_BASE}/SHARED/` }),
      ]),
    );
    expect(error.message).toContain('entry[0]: Endpoint has no id (the practice code)');
    expect(error.message).toContain('entry[1]: Endpoint id "has space" is not a practice code');
    expect(error.message).toContain('(Endpoint DUPDUP): duplicate Endpoint id DUPDUP');
    expect(error.message).toContain('(Organization DUPDUP): duplicate Organization id DUPDUP');
    expect(error.message).toContain(
      `address ${HEALOW_BASE}/SHARED is also the address of Endpoint SAME1`,
    );
  });

  it('lists the first ten problems in the message and counts the rest', async () => {
    const entries = Array.from({ length: 30 }, (_, i) =>
      pair(`C${i}`, `n${i}`, { endpoint: { address: undefined } }),
    ).flat();
    const error = await rejected(bundle(entries));
    expect(error.message).toMatch(/^directory rejected, nothing imported: 30 problems: /);
    expect(error.message).toMatch(/; and 20 more$/);
    expect(error.details?.problems).toHaveLength(30);
  });
});
