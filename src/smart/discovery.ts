// SMART discovery (SMART App Launch 2 §"SMART on FHIR Authorization: Discovery"):
// `{base}/.well-known/smart-configuration`, falling back to the CapabilityStatement's
// `oauth-uris` extension at `{base}/metadata`; cached per base with a TTL on the injected clock.
import { z } from 'zod';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { normalizeBaseUrl } from './base-url.ts';

/** What fhirbridge uses of a SMART configuration; wire names kept. */
export interface SmartConfiguration {
  issuer?: string | undefined;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri?: string | undefined;
  revocation_endpoint?: string | undefined;
  capabilities?: string[] | undefined;
  scopes_supported?: string[] | undefined;
  code_challenge_methods_supported?: string[] | undefined;
  token_endpoint_auth_methods_supported?: string[] | undefined;
  grant_types_supported?: string[] | undefined;
}

export interface DiscoveryOptions {
  fetch?: typeof fetch;
  clock: Clock;
  /** How long a discovered configuration is reused. Default one hour. */
  ttlMs?: number;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
}

export interface Discovery {
  /** The SMART configuration of a FHIR base (cached; concurrent calls share one lookup). */
  discover(baseUrl: string): Promise<SmartConfiguration>;
  /** Drops the cached configuration of a base (e.g. after a token endpoint stopped answering). */
  forget(baseUrl: string): void;
}

export const OAUTH_URIS_EXTENSION =
  'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

const REQUIRED = ['authorization_endpoint', 'token_endpoint'] as const;
const ENDPOINTS = [...REQUIRED, 'jwks_uri', 'revocation_endpoint'] as const;

const httpUrl = z.url({ protocol: /^https?$/ });
// Optional lists are advisory: a malformed one is dropped rather than failing discovery.
const stringList = z.array(z.string()).optional().catch(undefined);

const smartConfigurationSchema = z.object({
  issuer: httpUrl.optional(),
  authorization_endpoint: httpUrl,
  token_endpoint: httpUrl,
  jwks_uri: httpUrl.optional(),
  /** RFC 7009 token revocation, advertised per RFC 8414 §2; a malformed one is left out. */
  revocation_endpoint: httpUrl.optional().catch(undefined),
  capabilities: stringList,
  scopes_supported: stringList,
  code_challenge_methods_supported: stringList,
  token_endpoint_auth_methods_supported: stringList,
  grant_types_supported: stringList,
});

const extensionSchema = z.object({
  url: z.string(),
  valueUri: z.string().optional(),
  valueUrl: z.string().optional(),
});

// Only the path to the oauth-uris extension is checked; the rest of the statement is not ours.
const capabilityStatementSchema = z.object({
  resourceType: z.literal('CapabilityStatement'),
  rest: z
    .array(
      z.object({
        security: z
          .object({
            extension: z
              .array(z.object({ url: z.string(), extension: z.array(extensionSchema).optional() }))
              .optional(),
          })
          .optional(),
      }),
    )
    .optional(),
});

type Attempt =
  | { ok: true; config: SmartConfiguration }
  | { ok: false; reason: string; missing?: string[] };

export function createDiscovery({
  fetch: fetchImpl = globalThis.fetch,
  clock,
  ttlMs = 60 * 60 * 1000,
  timeoutMs = 10_000,
}: DiscoveryOptions): Discovery {
  const cache = new Map<string, { config: SmartConfiguration; expiresAt: number }>();
  const inflight = new Map<string, Promise<SmartConfiguration>>();

  async function getJson(url: string, accept: string): Promise<{ json: unknown } | string> {
    let response: Response;
    try {
      response = await fetchImpl(url, {
        headers: { accept },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      return `unreachable (${networkReason(err)})`;
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) return `HTTP ${response.status}`;
    try {
      return { json: JSON.parse(text) as unknown };
    } catch {
      return 'answer is not JSON';
    }
  }

  async function fromWellKnown(base: string): Promise<Attempt> {
    const got = await getJson(`${base}/.well-known/smart-configuration`, 'application/json');
    if (typeof got === 'string') return { ok: false, reason: got };
    return check(got.json, base);
  }

  async function fromMetadata(base: string): Promise<Attempt> {
    const got = await getJson(`${base}/metadata`, 'application/fhir+json');
    if (typeof got === 'string') return { ok: false, reason: got };
    const parsed = capabilityStatementSchema.safeParse(got.json);
    if (!parsed.success) return { ok: false, reason: 'answer is not a CapabilityStatement' };
    const oauthUris = (parsed.data.rest ?? [])
      .flatMap((rest) => rest.security?.extension ?? [])
      .find((ext) => ext.url === OAUTH_URIS_EXTENSION);
    if (!oauthUris) {
      return {
        ok: false,
        reason: 'no oauth-uris extension in rest[].security',
        missing: [...REQUIRED],
      };
    }
    const uri = (name: string) => {
      const ext = oauthUris.extension?.find((e) => e.url === name);
      return ext?.valueUri ?? ext?.valueUrl;
    };
    return check({ authorization_endpoint: uri('authorize'), token_endpoint: uri('token') }, base);
  }

  async function load(base: string): Promise<SmartConfiguration> {
    const wellKnown = await fromWellKnown(base);
    if (wellKnown.ok) return wellKnown.config;
    const metadata = await fromMetadata(base);
    if (metadata.ok) return metadata.config;
    const missing = [...new Set([...(wellKnown.missing ?? []), ...(metadata.missing ?? [])])];
    throw new BridgeError(
      'discovery_failed',
      `SMART discovery failed for ${base}: .well-known/smart-configuration: ${wellKnown.reason}; ` +
        `metadata: ${metadata.reason}`,
      { details: { base, missing } },
    );
  }

  return {
    async discover(baseUrl) {
      const base = normalizeBaseUrl(baseUrl);
      const hit = cache.get(base);
      if (hit && clock.now() < hit.expiresAt) return hit.config;
      const pending = inflight.get(base);
      if (pending) return pending;
      const lookup = load(base)
        .then((config) => {
          // A forget() during the lookup means its answer is not to be kept.
          if (inflight.get(base) === lookup) {
            cache.set(base, { config, expiresAt: clock.now() + ttlMs });
          }
          return config;
        })
        .finally(() => {
          if (inflight.get(base) === lookup) inflight.delete(base);
        });
      inflight.set(base, lookup);
      return lookup;
    },
    forget(baseUrl) {
      const base = normalizeBaseUrl(baseUrl);
      cache.delete(base);
      inflight.delete(base);
    },
  };
}

function check(json: unknown, base: string): Attempt {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, reason: 'answer is not a JSON object' };
  }
  const parsed = smartConfigurationSchema.safeParse(json);
  if (parsed.success) {
    // An https base must not downgrade us: the code, refresh token and client secret would
    // cross the network in clear text. Plain http is only for an http (loopback) base.
    const downgraded = base.startsWith('https:')
      ? ENDPOINTS.filter((name) => parsed.data[name]?.startsWith('http:'))
      : [];
    if (downgraded.length > 0) {
      return { ok: false, reason: `plain http ${downgraded.join(', ')} on an https base` };
    }
    return { ok: true, config: stripUndefined(parsed.data) };
  }
  const record = json as Record<string, unknown>;
  const missing: string[] = [];
  const invalid: string[] = [];
  for (const issue of parsed.error.issues) {
    const field = String(issue.path[0] ?? '(root)');
    (record[field] === undefined ? missing : invalid).push(field);
  }
  const parts = [
    missing.length ? `missing ${missing.join(', ')}` : '',
    invalid.length ? `invalid ${invalid.join(', ')} (absolute http(s) URLs required)` : '',
  ].filter((p) => p !== '');
  return { ok: false, reason: parts.join('; '), missing };
}

function stripUndefined(config: SmartConfiguration): SmartConfiguration {
  return Object.fromEntries(
    Object.entries(config).filter(([, v]) => v !== undefined),
  ) as unknown as SmartConfiguration;
}

function networkReason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'TimeoutError') return 'timed out';
  const inner = err.cause;
  if (inner && typeof inner === 'object' && 'code' in inner && typeof inner.code === 'string') {
    return inner.code;
  }
  return err.message;
}
