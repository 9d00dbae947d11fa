// healow's activated-endpoints Bundle → practice listings:
// Endpoint + Organization pairs share the practice code as `id`; `Endpoint.address` is the FHIR
// base. The whole file is checked before anything is written: a bad file is one error listing
// its problems, and nothing of it reaches the store.
import { z } from 'zod';
import { BridgeError } from '../common/errors.ts';
import type { PracticeListing } from '../store/port.ts';
import { type BasePolicy, practiceBaseProblem } from './base-policy.ts';
import { BundleEntryReader, JsonStreamError } from './bundle-stream.ts';

/** A problem that rejects the whole file. */
export interface DirectoryProblem {
  /** `entry[12]`, or `Bundle` for the file as a whole. */
  where: string;
  message: string;
}

/** An entry left out on purpose (not an error), with why. */
export interface SkippedEntry {
  /** The practice code when known, else `entry[12]`. */
  id: string;
  reason: string;
}

export interface DirectoryContents {
  listings: PracticeListing[];
  skipped: SkippedEntry[];
  /** How many `entry` elements the Bundle had. */
  entries: number;
}

export interface ReadDirectoryOptions extends BasePolicy {
  /** How many problems are kept for the error's details (all are counted). Default 200. */
  maxProblems?: number;
}

/** FHIR `id` (R4 §2.24.0.1), plus `_`: codes become practice ids and URL path segments. */
const PRACTICE_ID = /^[A-Za-z0-9._-]{1,64}$/;

const reference = z.object({ reference: z.string().optional().catch(undefined) });
const optionalText = z.string().optional().catch(undefined);

const endpointSchema = z.object({
  id: z.unknown().optional(),
  status: optionalText,
  name: optionalText,
  address: z.unknown().optional(),
  managingOrganization: reference.optional().catch(undefined),
});

const addressSchema = z.object({
  line: z.array(z.string()).optional().catch(undefined),
  city: optionalText,
  state: optionalText,
  postalCode: optionalText,
});

const organizationSchema = z.object({
  id: z.unknown().optional(),
  name: optionalText,
  address: z.array(addressSchema.catch({})).optional().catch(undefined),
  endpoint: z.array(reference.catch({})).optional().catch(undefined),
});

interface EndpointPart {
  entry: number;
  base: string;
  name: string | undefined;
}

interface OrganizationPart {
  entry: number;
  name: string | undefined;
  addressLine: string | null;
  city: string | null;
  state: string | null;
  postalCode: string | null;
}

/** Endpoint statuses that mean "do not connect" (FHIR R4 endpoint-status). */
const INACTIVE_STATUSES = new Set(['suspended', 'error', 'off', 'entered-in-error']);

const blank = (s: string | undefined): string | null => {
  const trimmed = s?.trim();
  return trimmed ? trimmed : null;
};

const REFERENCE: Record<'Organization' | 'Endpoint', RegExp> = {
  Organization: /(?:^|\/)Organization\/([^/]+?)(?:\/_history\/[^/]+)?$/,
  Endpoint: /(?:^|\/)Endpoint\/([^/]+?)(?:\/_history\/[^/]+)?$/,
};

/** The id a `Type/id` reference (relative or absolute, maybe versioned) names, if it is one. */
function referencedId(
  ref: string | undefined,
  type: 'Organization' | 'Endpoint',
): string | undefined {
  return ref ? REFERENCE[type].exec(ref)?.[1] : undefined;
}

/**
 * Collects a directory entry by entry (the order of entries does not matter), then pairs the
 * parts by id. Keeps only a few short strings per practice, whatever the size of the entries.
 */
export class DirectoryCollector {
  readonly #policy: BasePolicy;
  readonly #maxProblems: number;
  readonly #endpoints = new Map<string, EndpointPart>();
  readonly #organizations = new Map<string, OrganizationPart>();
  readonly #skipped: SkippedEntry[] = [];
  readonly #problems: DirectoryProblem[] = [];
  #problemCount = 0;
  #entries = 0;

  constructor({ maxProblems = 200, ...policy }: ReadDirectoryOptions) {
    this.#policy = policy;
    this.#maxProblems = maxProblems;
  }

  #problem(where: string, message: string): void {
    this.#problemCount++;
    if (this.#problems.length < this.#maxProblems) this.#problems.push({ where, message });
  }

  add(entry: unknown): void {
    const index = this.#entries++;
    const where = `entry[${index}]`;
    const resource =
      typeof entry === 'object' && entry !== null
        ? (entry as { resource?: unknown }).resource
        : undefined;
    if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
      this.#skipped.push({ id: where, reason: 'entry has no resource' });
      return;
    }
    const type = (resource as { resourceType?: unknown }).resourceType;
    if (type === 'Endpoint') this.#addEndpoint(resource, index, where);
    else if (type === 'Organization') this.#addOrganization(resource, index, where);
    else {
      this.#skipped.push({
        id: where,
        reason: `resourceType ${JSON.stringify(type ?? null)} is neither Endpoint nor Organization`,
      });
    }
  }

  #checkId(id: unknown, where: string, type: string): string | undefined {
    if (typeof id === 'string' && PRACTICE_ID.test(id)) return id;
    this.#problem(
      where,
      id === undefined
        ? `${type} has no id (the practice code)`
        : `${type} id ${JSON.stringify(id)} is not a practice code (1-64 of A-Z a-z 0-9 . _ -)`,
    );
    return undefined;
  }

  #addEndpoint(resource: object, index: number, where: string): void {
    const endpoint = endpointSchema.parse(resource);
    const id = this.#checkId(endpoint.id, where, 'Endpoint');
    const label = id ? `${where} (Endpoint ${id})` : where;
    const managing = referencedId(endpoint.managingOrganization?.reference, 'Organization');
    if (id && managing !== undefined && managing !== id) {
      this.#problem(
        label,
        `pair with mismatched ids: managingOrganization is Organization/${managing}`,
      );
    }
    let base: string | undefined;
    if (typeof endpoint.address !== 'string' || endpoint.address.trim() === '') {
      this.#problem(label, 'no address (the FHIR base URL)');
    } else {
      const checked = practiceBaseProblem(endpoint.address, this.#policy);
      if ('problem' in checked) this.#problem(label, `address: ${checked.problem}`);
      else base = checked.base;
    }
    if (!id || !base) return;
    if (this.#endpoints.has(id)) {
      this.#problem(label, `duplicate Endpoint id ${id}`);
      return;
    }
    if (endpoint.status && INACTIVE_STATUSES.has(endpoint.status)) {
      this.#skipped.push({ id, reason: `Endpoint status is ${endpoint.status}` });
      // Remembered as paired-with-nothing, so its Organization is not reported as orphaned.
      this.#endpoints.set(id, { entry: index, base: '', name: undefined });
      return;
    }
    this.#endpoints.set(id, { entry: index, base, name: blank(endpoint.name) ?? undefined });
  }

  #addOrganization(resource: object, index: number, where: string): void {
    const organization = organizationSchema.parse(resource);
    const id = this.#checkId(organization.id, where, 'Organization');
    if (!id) return;
    const label = `${where} (Organization ${id})`;
    for (const ref of organization.endpoint ?? []) {
      const named = referencedId(ref.reference, 'Endpoint');
      if (named !== undefined && named !== id) {
        this.#problem(label, `pair with mismatched ids: endpoint is Endpoint/${named}`);
      }
    }
    if (this.#organizations.has(id)) {
      this.#problem(label, `duplicate Organization id ${id}`);
      return;
    }
    const address = organization.address?.[0];
    this.#organizations.set(id, {
      entry: index,
      name: blank(organization.name) ?? undefined,
      addressLine: blank(
        address?.line
          ?.map((l) => l.trim())
          .filter(Boolean)
          .join(', '),
      ),
      city: blank(address?.city),
      state: blank(address?.state),
      postalCode: blank(address?.postalCode),
    });
  }

  /** Pairs the parts and checks the file as a whole; throws the problems, if any. */
  finish(top: { fields: Record<string, unknown>; entry: 'absent' | 'array' | 'not-array' }) {
    const resourceType = top.fields.resourceType;
    if (resourceType !== 'Bundle') {
      // Entry problems of something that is not a Bundle at all are noise: report this alone.
      throw rejection([
        {
          where: 'Bundle',
          message:
            resourceType === undefined
              ? 'not a FHIR Bundle (no resourceType)'
              : `not a FHIR Bundle (resourceType is ${JSON.stringify(resourceType)})`,
        },
      ]);
    }
    if (top.entry === 'not-array') this.#problem('Bundle', 'entry is not an array');

    const listings: PracticeListing[] = [];
    const byBase = new Map<string, string>();
    const orphanEndpoints = new Map<number, string>();
    const orphanOrganizations = new Map<number, string>();
    for (const [id, endpoint] of this.#endpoints) {
      const organization = this.#organizations.get(id);
      if (endpoint.base === '') continue; // inactive, already skipped
      if (!organization) orphanEndpoints.set(endpoint.entry, id);
      const name = organization?.name ?? endpoint.name;
      if (!name) {
        this.#skipped.push({ id, reason: 'neither Endpoint nor Organization has a name' });
        continue;
      }
      const other = byBase.get(endpoint.base);
      if (other !== undefined) {
        this.#problem(
          `entry[${endpoint.entry}] (Endpoint ${id})`,
          `address ${endpoint.base} is also the address of Endpoint ${other}`,
        );
        continue;
      }
      byBase.set(endpoint.base, id);
      listings.push({
        id,
        name,
        base: endpoint.base,
        vendor: 'healow',
        registration: null,
        organizationName: organization?.name ?? null,
        addressLine: organization?.addressLine ?? null,
        city: organization?.city ?? null,
        state: organization?.state ?? null,
        postalCode: organization?.postalCode ?? null,
      });
    }
    for (const [id, organization] of this.#organizations) {
      if (!this.#endpoints.has(id)) orphanOrganizations.set(organization.entry, id);
    }
    // Neighbours that are each other's missing half are one pair whose ids disagree.
    for (const [entry, orgId] of orphanOrganizations) {
      const endpointId = orphanEndpoints.get(entry - 1) ?? orphanEndpoints.get(entry + 1);
      if (endpointId === undefined) {
        this.#skipped.push({ id: orgId, reason: 'Organization has no Endpoint with its id' });
        continue;
      }
      this.#problem(
        `entry[${entry}] (Organization ${orgId})`,
        `pair with mismatched ids: its Endpoint next to it has id ${endpointId}`,
      );
    }
    if (this.#problemCount === 0 && listings.length === 0) {
      // Importing an empty list would mark every known practice vanished.
      this.#problem('Bundle', 'lists no practice (no Endpoint with an address)');
    }
    if (this.#problemCount > 0) throw rejection(this.#problems, this.#problemCount);
    return { listings, skipped: this.#skipped, entries: this.#entries };
  }
}

const SHOWN_IN_MESSAGE = 10;

/** One error for a rejected file: the first problems in the message, more in `details`. */
export function rejection(problems: DirectoryProblem[], total = problems.length): BridgeError {
  const shown = problems.slice(0, SHOWN_IN_MESSAGE).map((p) => `${p.where}: ${p.message}`);
  const more = total - shown.length;
  return new BridgeError(
    'invalid_request',
    `directory rejected, nothing imported: ${total} problem${total === 1 ? '' : 's'}: ` +
      `${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
    { details: { problems, total } },
  );
}

/**
 * Reads a directory Bundle from text chunks (bytes are decoded as UTF-8): streaming, so only
 * the listings stay in memory. Throws one BridgeError('invalid_request') listing every problem.
 */
export async function readDirectory(
  chunks: AsyncIterable<Uint8Array | string>,
  options: ReadDirectoryOptions,
): Promise<DirectoryContents> {
  const reader = new BundleEntryReader();
  const collector = new DirectoryCollector(options);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const feed = (text: string) => {
    for (const entry of reader.write(text)) collector.add(entry);
  };
  try {
    for await (const chunk of chunks) {
      feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    }
    feed(decoder.decode());
    return collector.finish(reader.end());
  } catch (error) {
    if (error instanceof JsonStreamError) {
      throw rejection([{ where: 'Bundle', message: `not valid JSON: ${error.message}` }]);
    }
    if (
      error instanceof TypeError &&
      (error as { code?: string }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA'
    ) {
      throw rejection([{ where: 'Bundle', message: 'not UTF-8 text' }]);
    }
    throw error;
  }
}
