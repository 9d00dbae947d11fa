// healow's endpoint directory (`/apps/api/v1/fhir/activated_clinical_endpoints`): a Bundle of
// Endpoint + Organization pairs sharing the practice code as id, listing the practices that
// have turned patient access on. `generateDirectory` makes a realistic one of any size (healow
// lists 2,500-17,000 practices, 10-15 MB) for directory tests.

import type { FastifyInstance } from 'fastify';
import type { SimulatorContext } from './context.ts';
import {
  FAMILY_NAMES,
  GIVEN_NAMES,
  PRACTICE_SUFFIXES,
  PRACTICE_WORDS,
  SPECIALTIES,
  STREET_NAMES,
  US_CITIES,
} from './data/names.ts';
import { createPrng, type Prng } from './data/prng.ts';

export const DIRECTORY_PATH = '/apps/api/v1/fhir/activated_clinical_endpoints';

export interface DirectoryPractice {
  /** Practice code: six letters A-J, as eCW's are (JAFJCD, IJCEAI). */
  code: string;
  name: string;
  /** Absent for some practices: healow lists an address only sometimes. */
  address?: { line?: string[]; city: string; state: string; postalCode?: string };
}

const CODE_LETTERS = 'ABCDEFGHIJ';

function practiceName(prng: Prng, city: string): string {
  const specialty = prng.pick(SPECIALTIES);
  const given = prng.pick(GIVEN_NAMES);
  const family = prng.pick(FAMILY_NAMES);
  const word = prng.pick(PRACTICE_WORDS);
  const suffix = prng.chance(0.55) ? ` ${prng.pick(PRACTICE_SUFFIXES)}` : '';
  switch (prng.int(0, 7)) {
    case 0:
      return `${word} ${specialty}${suffix}`;
    case 1:
      return `${family} ${specialty}${suffix}`;
    case 2:
      return `${given} ${family}, ${prng.pick(['MD', 'DO', 'MD PC', 'MD PA', 'DPM', 'NP'])}`;
    case 3:
      return `${city} ${specialty}${suffix}`;
    case 4:
      return `${word} Medical${suffix || ' Group'}`;
    case 5:
      return prng.pick([
        `Clínica ${word}`,
        `Centro Médico ${family}`,
        `Clínica Médica ${given} ${family}`,
        `Consultorio Pediátrico ${family}`,
      ]);
    case 6:
      return `${family} & ${prng.pick(FAMILY_NAMES)} ${specialty}`;
    default:
      return `${word} ${prng.pick(['Health', 'Healthcare', 'Wellness', 'Medical Center', 'Family Practice'])}${suffix}`;
  }
}

/**
 * A deterministic directory of `count` practices: varied names (accents sometimes, all caps
 * sometimes, the odd training or test practice and stray whitespace, as in healow's), unique
 * six-letter codes, real US cities; most with an address.
 */
export function generateDirectory(
  count: number,
  seed = 'healow-directory',
  exclude: Iterable<string> = [],
): DirectoryPractice[] {
  const prng = createPrng(seed, 'directory');
  const used = new Set(exclude);
  const out: DirectoryPractice[] = [];
  while (out.length < count) {
    let code = '';
    for (let i = 0; i < 6; i++) code += CODE_LETTERS[prng.int(0, 9)];
    if (used.has(code)) continue;
    used.add(code);
    const [city, state] = prng.pick(US_CITIES);
    let name = practiceName(prng, city);
    const r = prng.next();
    if (r < 0.08) name = name.toUpperCase();
    else if (r < 0.09) name = `${name} TRAIN`;
    else if (r < 0.095) name = `${name} - TEST`;
    else if (r < 0.1) name = ` ${name}  `;
    const practice: DirectoryPractice = { code, name };
    if (prng.chance(0.8)) {
      const upper = prng.chance(0.25);
      practice.address = {
        ...(prng.chance(0.6) ? { line: [`${prng.int(1, 9999)} ${prng.pick(STREET_NAMES)}`] } : {}),
        city: upper ? city.toUpperCase() : city,
        state,
        ...(prng.chance(0.6) ? { postalCode: String(prng.int(1001, 99950)).padStart(5, '0') } : {}),
      };
    }
    out.push(practice);
  }
  return out;
}

/** The two entries of one practice: Endpoint and Organization, both with the practice code as id. */
export function directoryEntries(
  practice: DirectoryPractice,
  address: string,
): Record<string, unknown>[] {
  return [
    {
      resource: {
        resourceType: 'Endpoint',
        id: practice.code,
        status: 'active',
        connectionType: {
          system: 'http://terminology.hl7.org/CodeSystem/endpoint-connection-type',
          code: 'hl7-fhir-rest',
        },
        name: practice.name,
        managingOrganization: { reference: `Organization/${practice.code}` },
        payloadType: [
          { coding: [{ system: 'http://hl7.org/fhir/endpoint-payload-type', code: 'any' }] },
        ],
        address,
      },
    },
    {
      resource: {
        resourceType: 'Organization',
        id: practice.code,
        active: true,
        name: practice.name,
        ...(practice.address ? { address: [practice.address] } : {}),
        endpoint: [{ reference: `Endpoint/${practice.code}` }],
      },
    },
  ];
}

export function directoryBundle(
  practices: readonly DirectoryPractice[],
  addressOf: (code: string) => string,
): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: practices.flatMap((p) => directoryEntries(p, addressOf(p.code))),
  };
}

/** `directorySize` (if the options carry it): the whole directory's size, configured practices included. */
export function directorySizeOf(options: unknown): number {
  const size = (options as { directorySize?: unknown } | undefined)?.directorySize;
  return typeof size === 'number' && Number.isInteger(size) && size > 0 ? size : 0;
}

export function registerDirectoryRoutes(app: FastifyInstance, ctx: SimulatorContext): void {
  // The generated part is the same on every call: serialize its entries once per origin.
  let cached: { key: string; json: string } | undefined;
  const filler = (configured: string[]): string => {
    const size = directorySizeOf(ctx.options);
    const count = Math.max(0, size - ctx.practices.size);
    const key = `${ctx.urls.origin()}|${count}`;
    if (cached?.key !== key) {
      const practices = generateDirectory(count, `${ctx.options.seed}:directory`, configured);
      const entries = practices.flatMap((p) => directoryEntries(p, ctx.urls.fhirBase(p.code)));
      cached = { key, json: entries.map((e) => JSON.stringify(e)).join(',') };
    }
    return cached.json;
  };

  app.get(DIRECTORY_PATH, (_request, reply) => {
    const all = [...ctx.practices.values()];
    // A practice appears only once it has turned on patient API access.
    const enabled = all.filter((p) => !p.disabled);
    const own = enabled.flatMap((p) =>
      directoryEntries(
        {
          code: p.code,
          name: p.name,
          ...(p.city || p.state ? { address: { city: p.city, state: p.state } } : {}),
        },
        ctx.urls.fhirBase(p.code),
      ),
    );
    const generated = filler(all.map((p) => p.code));
    const entries = [own.map((e) => JSON.stringify(e)).join(','), generated].filter(
      (s) => s.length > 0,
    );
    return reply
      .type('application/json;charset=UTF-8')
      .send(`{"resourceType":"Bundle","type":"collection","entry":[${entries.join(',')}]}`);
  });
}
