import { describe, expect, it } from 'vitest';
import { DIRECTORY_PATH, directoryBundle, generateDirectory } from './directory.ts';
import { startFhirTestServer, TEST_PRACTICES } from './fhir/fhir-server.test-helper.ts';

// biome-ignore lint/suspicious/noExplicitAny: bundles are inspected field by field
type Json = any;

describe('endpoint directory', () => {
  it("serves the enabled practices in healow's shape: Endpoint + Organization sharing the code", async () => {
    const sim = await startFhirTestServer();
    try {
      const res = await fetch(`${sim.origin}${DIRECTORY_PATH}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      const bundle = (await res.json()) as Json;
      expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'collection' });
      const enabled = TEST_PRACTICES.filter((p) => !p.disabled);
      expect(bundle.entry).toHaveLength(enabled.length * 2);
      for (const [i, practice] of enabled.entries()) {
        const endpoint = bundle.entry[2 * i].resource;
        const organization = bundle.entry[2 * i + 1].resource;
        expect(endpoint).toMatchObject({
          resourceType: 'Endpoint',
          id: practice.code,
          status: 'active',
          name: practice.name,
          address: sim.base(practice.code),
          connectionType: { code: 'hl7-fhir-rest' },
        });
        expect(organization).toMatchObject({
          resourceType: 'Organization',
          id: practice.code,
          name: practice.name,
          address: [{ city: practice.city, state: practice.state }],
          endpoint: [{ reference: `Endpoint/${practice.code}` }],
        });
      }
      // A practice appears only once it has turned patient access on.
      sim.ctx.practices.get('CDHJEB')!.disabled = false;
      const after = (await (await fetch(`${sim.origin}${DIRECTORY_PATH}`)).json()) as Json;
      expect(after.entry.map((e: Json) => e.resource.id)).toContain('CDHJEB');
    } finally {
      await sim.close();
    }
  });

  it('generates a realistic, deterministic directory of 17,000 practices', () => {
    const started = performance.now();
    const practices = generateDirectory(17_000, 'dir-seed', ['JAFJCD']);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(practices).toHaveLength(17_000);
    const codes = new Set(practices.map((p) => p.code));
    expect(codes.size).toBe(17_000);
    expect(codes.has('JAFJCD')).toBe(false);
    expect(practices.every((p) => /^[A-J]{6}$/.test(p.code))).toBe(true);
    expect(generateDirectory(17_000, 'dir-seed', ['JAFJCD'])).toEqual(practices);
    expect(generateDirectory(10, 'other-seed')).not.toEqual(practices.slice(0, 10));

    const names = practices.map((p) => p.name);
    const share = (f: (name: string) => boolean) => names.filter(f).length / names.length;
    expect(new Set(names).size).toBeGreaterThan(12_000);
    expect(share((n) => /[À-ÿĀ-ž]/.test(n))).toBeGreaterThan(0.03);
    expect(share((n) => n === n.toUpperCase())).toBeGreaterThan(0.03);
    expect(share((n) => n !== n.trim())).toBeGreaterThan(0);
    const withAddress = practices.filter((p) => p.address);
    expect(withAddress.length / practices.length).toBeGreaterThan(0.7);
    expect(withAddress.length).toBeLessThan(practices.length);
    expect(new Set(withAddress.map((p) => p.address?.state)).size).toBeGreaterThan(40);

    const json = JSON.stringify(
      directoryBundle(practices, (code) => `https://fhir4.healow.com/fhir/r4/${code}`),
    );
    expect(json.length).toBeGreaterThan(8_000_000);
    expect(json.length).toBeLessThan(16_000_000);
  });

  it('serves a generated directory of the size the options ask for', async () => {
    const sim = await startFhirTestServer({ directorySize: 17_000 });
    try {
      const first = await (await fetch(`${sim.origin}${DIRECTORY_PATH}`)).text();
      const bundle = JSON.parse(first) as Json;
      expect(bundle.entry).toHaveLength(
        2 * (17_000 - TEST_PRACTICES.length + TEST_PRACTICES.filter((p) => !p.disabled).length),
      );
      expect(bundle.entry[0].resource.id).toBe('JAFJCD');
      const addresses = bundle.entry
        .filter((e: Json) => e.resource.resourceType === 'Endpoint')
        .map((e: Json) => e.resource.address);
      expect(addresses.every((a: string) => a.startsWith(`${sim.origin}/fhir/r4/`))).toBe(true);
      const ids = bundle.entry.map((e: Json) => e.resource.id);
      expect(new Set(ids).size).toBe(ids.length / 2);
      expect(await (await fetch(`${sim.origin}${DIRECTORY_PATH}`)).text()).toBe(first);
    } finally {
      await sim.close();
    }
  });
});
