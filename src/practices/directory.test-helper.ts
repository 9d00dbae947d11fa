// Test helpers for practices (not exported from index.ts): small hand-made directory Bundles,
// and large realistic ones from the simulator's generator.
import { writeFileSync } from 'node:fs';
import { directoryBundle, generateDirectory } from '../simulator/directory.ts';

export const HEALOW_BASE = 'https://fhir4.healow.com/fhir/r4';

type Json = Record<string, unknown>;

/** The Endpoint + Organization entries of one practice, as healow lists them. */
export function pair(
  code: string,
  name: string,
  options: {
    base?: string;
    city?: string;
    state?: string;
    endpoint?: Json;
    organization?: Json;
  } = {},
): Json[] {
  return [
    {
      fullUrl: `${HEALOW_BASE}/Endpoint/${code}`,
      resource: {
        resourceType: 'Endpoint',
        id: code,
        status: 'active',
        name,
        managingOrganization: { reference: `Organization/${code}` },
        address: options.base ?? `${HEALOW_BASE}/${code}`,
        ...options.endpoint,
      },
    },
    {
      resource: {
        resourceType: 'Organization',
        id: code,
        name,
        ...(options.city
          ? { address: [{ line: ['1 Main St'], city: options.city, state: options.state ?? 'MA' }] }
          : {}),
        endpoint: [{ reference: `Endpoint/${code}` }],
        ...options.organization,
      },
    },
  ];
}

export function bundle(entries: unknown[], extra: Json = {}): string {
  return JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: entries, ...extra });
}

/** A realistic directory of `count` practices (about 650 bytes each), as JSON text. */
export function generatedDirectoryJson(
  count: number,
  seed = 'practices-test',
  baseOf: (code: string) => string = (code) => `${HEALOW_BASE}/${code}`,
): string {
  return JSON.stringify(directoryBundle(generateDirectory(count, seed), baseOf));
}

export function writeDirectoryFile(path: string, json: string): string {
  writeFileSync(path, json);
  return path;
}
