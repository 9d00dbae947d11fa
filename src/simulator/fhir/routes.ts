// The FHIR server of every practice base `/fhir/r4/{code}`: search (`GET /{type}`), paging
// (`GET {base}?_getpages=…`), read (`GET /{type}/{id}`, Binary included), with healow's bearer,
// patient and scope checks, its declared search methods and the profile's answer shapes.
// Metadata and discovery are served by discovery.ts.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SimGrant, SimulatorContext } from '../context.ts';
import {
  DataError,
  type FhirResource,
  foreignBase,
  isResourceType,
  type PatientData,
  RESOURCE_TYPES,
  type SearchQuery,
} from '../data/index.ts';
import { tokenMatches } from '../data/query.ts';
import { extractSearchKeys } from '../data/search-params.ts';
import { formatInstant, type UsTimeZone } from '../data/time.ts';
import { asSent, searchset, selfLink } from './bundle.ts';
import { FhirError, sendFhir, sendFhirError } from './outcome.ts';
import { decodeCursor, encodeCursor, nextPageUrl } from './paging.ts';
import { matchParameterSet, unknownParameterSetDiagnostics } from './parameter-sets.ts';
import {
  DEFAULT_PAGE_SIZE,
  entriesOf,
  MAX_PAGE_SIZE,
  type PageLimits,
  type ParsedSearch,
  parseCount,
  parseSearch,
  rawQuerySchema,
  SearchParamError,
} from './params.ts';
import { behaviourOf, type ServerBehaviour } from './profile.ts';
import { accessFor, type Permission, requiredScope } from './scopes.ts';

/** One authenticated call at one practice. */
interface FhirCall {
  code: string;
  behaviour: ServerBehaviour;
  grant: SimGrant;
  /** Where links, fullUrls and absolute attachment URLs point (healow's host by a switch). */
  linkBase: string;
  zone: UsTimeZone;
}

type Handler = (
  request: FastifyRequest,
  reply: FastifyReply,
) => Promise<FastifyReply> | FastifyReply;

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Page sizes: constants, overridable by `defaultPageSize` / `maxPageSize` options if present. */
export function pageLimits(options: unknown): PageLimits {
  const o = (options ?? {}) as { defaultPageSize?: unknown; maxPageSize?: unknown };
  const positive = (v: unknown) =>
    typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
  const maxPageSize = positive(o.maxPageSize) ?? MAX_PAGE_SIZE;
  return {
    maxPageSize,
    defaultPageSize: Math.min(maxPageSize, positive(o.defaultPageSize) ?? DEFAULT_PAGE_SIZE),
  };
}

export function registerFhirRoutes(app: FastifyInstance, ctx: SimulatorContext<PatientData>): void {
  const limits = pageLimits(ctx.options);

  /** The profile can change at run time (admin API): read it per request. */
  const behaviour = (): ServerBehaviour => behaviourOf(ctx.options.profile, ctx.quirks);

  /** Every failure becomes an OperationOutcome; nothing escapes as a crash. */
  const handle =
    (fn: Handler): Handler =>
    async (request, reply) => {
      try {
        return await fn(request, reply);
      } catch (error) {
        const style = behaviour();
        if (error instanceof FhirError) return sendFhirError(reply, style, error);
        if (error instanceof SearchParamError) {
          return sendFhirError(reply, style, new FhirError(400, 'invalid', error.message));
        }
        if (error instanceof DataError) {
          const status = error.code === 'gone' ? 410 : error.code === 'not_found' ? 404 : 400;
          return sendFhirError(
            reply,
            style,
            new FhirError(status, status === 410 ? 'deleted' : 'not-found', error.message),
          );
        }
        request.log.error({ err: error }, 'FHIR request failed');
        return sendFhirError(
          reply,
          style,
          new FhirError(500, 'exception', 'Internal server error'),
        );
      }
    };

  /** Practice, then bearer token (a practice without patient access answers every call with an error). */
  const open = (request: FastifyRequest): FhirCall => {
    const { practice: code } = request.params as { practice: string };
    const practice = ctx.practices.get(code);
    if (!practice) throw new FhirError(404, 'not-found', `Unknown practice code: ${code}`);
    if (practice.disabled) {
      throw new FhirError(
        403,
        'forbidden',
        `Practice ${code} has not enabled patient access to its FHIR API`,
      );
    }
    const realm = `Bearer realm="${ctx.urls.fhirBase(code)}"`;
    const header = request.headers.authorization;
    const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
    if (!token) {
      throw new FhirError(
        401,
        'login',
        'Authentication required: send Authorization: Bearer <access token>',
        {
          'www-authenticate': realm,
        },
      );
    }
    const grant = ctx.grants.introspect(code, token);
    if (!grant || grant.practiceCode !== code || grant.expiresAt <= ctx.clock.now()) {
      // RFC 6750 §3.1: invalid_token for an unknown, expired or revoked token.
      throw new FhirError(401, 'login', 'The access token is invalid, expired or revoked', {
        'www-authenticate': `${realm}, error="invalid_token", error_description="The access token is invalid, expired or revoked"`,
      });
    }
    const b = behaviour();
    return {
      code,
      behaviour: b,
      grant,
      linkBase: b.foreignLinks ? foreignBase(code) : ctx.urls.fhirBase(code),
      zone: ctx.data.zoneOf(code),
    };
  };

  const knownType = (type: string): string => {
    if (isResourceType(type)) return type;
    throw new FhirError(
      404,
      'not-supported',
      `Unknown resource type '${type}' - Server knows how to handle: [${RESOURCE_TYPES.join(', ')}]`,
    );
  };

  const searchPermission = (call: FhirCall, type: string): Exclude<Permission, 'none'> => {
    const permission = accessFor(call.grant.scopes, type).search;
    if (permission === 'none') {
      throw new FhirError(
        403,
        'forbidden',
        `Insufficient scope: searching ${type} needs ${requiredScope(type, 'search')}`,
      );
    }
    return permission;
  };

  /** A category-restricted v2 scope narrows the search, or refuses a category outside it. */
  const restrict = (
    query: SearchQuery,
    permission: Exclude<Permission, 'none'>,
    type: string,
  ): SearchQuery => {
    if (permission === 'all') return query;
    const asked = query.tokens.filter((t) => t.name === 'category');
    if (asked.length === 0)
      return {
        ...query,
        tokens: [...query.tokens, { name: 'category', anyOf: permission.categories }],
      };
    for (const criterion of asked.flatMap((t) => t.anyOf)) {
      const allowed = permission.categories.some(
        (c) =>
          c.code === criterion.code &&
          (c.system === undefined ||
            criterion.system === undefined ||
            c.system === criterion.system),
      );
      if (!allowed) {
        throw new FhirError(
          403,
          'forbidden',
          `Insufficient scope: the granted ${type} scopes do not cover category ${criterion.code ?? ''}`,
        );
      }
    }
    return query;
  };

  /** Only the token's patient: a search naming another patient is refused. */
  const checkPatient = (call: FhirCall, parsed: ParsedSearch): void => {
    if (parsed.patients.some((p) => p !== call.grant.patientId)) {
      throw new FhirError(
        403,
        'forbidden',
        'The patient parameter does not match the patient in context of the access token',
      );
    }
  };

  /**
   * HAPI plain-server dispatch: the parameter names must fit one declared search method of the
   * type, or the request is a 400 naming the parameters in the order sent.
   */
  const checkParameterSet = (call: FhirCall, type: string, entries: [string, string][]): void => {
    const names = [...new Set(entries.map(([n]) => n))];
    const sets = call.behaviour.parameterSets(type);
    if (sets.length === 0) {
      throw new FhirError(
        400,
        'not-supported',
        `Invalid request: The FHIR endpoint on this server does not know how to handle GET operation[${type}] with parameters [[${names.join(', ')}]]`,
      );
    }
    if (!matchParameterSet(sets, names)) {
      throw new FhirError(400, 'processing', unknownParameterSetDiagnostics(names));
    }
  };

  /**
   * `_include=T:param` adds what the matches' `param` element references; `_revinclude=T:param`
   * adds the patient's T resources whose `param` references a match. Only where accepted.
   */
  const includes = (
    call: FhirCall,
    type: string,
    parsed: ParsedSearch,
    matches: FhirResource[],
  ) => {
    const out = new Map<string, FhirResource>();
    const refsOf = (resource: FhirResource, param: string): string[] => {
      const field = param === 'patient' ? (resource.patient ?? resource.subject) : resource[param];
      const list = Array.isArray(field) ? field : field === undefined ? [] : [field];
      return list
        .map((r) => (r as { reference?: unknown })?.reference)
        .filter((r): r is string => typeof r === 'string');
    };
    for (const [name, value] of parsed.params) {
      const [source, param] = value.split(':') as [string, string | undefined];
      if (param === undefined) continue;
      if (name === '_include' && source === type) {
        for (const ref of matches.flatMap((m) => refsOf(m, param))) {
          const [refType, refId] = ref.split('/').slice(-2) as [string, string];
          if (!isResourceType(refType) || accessFor(call.grant.scopes, refType).read !== 'all')
            continue;
          const result = ctx.data.read(
            call.code,
            call.grant.patientId,
            refType,
            refId,
            call.linkBase,
          );
          if (result.status === 'found') out.set(ref, result.resource);
        }
      } else if (name === '_revinclude' && isResourceType(source)) {
        if (accessFor(call.grant.scopes, source).search !== 'all') continue;
        const wanted = new Set(matches.map((m) => `${m.resourceType}/${m.id}`));
        const candidates = ctx.data.allResources(call.code, call.grant.patientId, {
          type: source,
          linkBase: call.linkBase,
        });
        for (const c of candidates) {
          if (refsOf(c, param).some((r) => wanted.has(r.split('/').slice(-2).join('/')))) {
            out.set(`${c.resourceType}/${c.id}`, c);
          }
        }
      }
    }
    return [...out.values()];
  };

  const sendPage = (
    reply: FastifyReply,
    call: FhirCall,
    type: string,
    parsed: ParsedSearch,
    query: SearchQuery,
    page: { after: number; offset: number; count: number; selfUrl: string },
  ): FastifyReply => {
    const result = ctx.data.search(call.code, call.grant.patientId, type, query, {
      after: page.after,
      count: page.count,
      linkBase: call.linkBase,
    });
    const served = page.offset + result.resources.length;
    const nextUrl = result.more
      ? nextPageUrl(
          call.linkBase,
          encodeCursor({
            c: call.code,
            t: type,
            p: call.grant.patientId,
            q: parsed.params,
            a: result.last,
            n: page.count,
            o: served,
          }),
          served,
          page.count,
        )
      : undefined;
    const now = ctx.clock.now();
    return sendFhir(
      reply,
      call.behaviour,
      200,
      searchset({
        resources: result.resources,
        included: includes(call, type, parsed, result.resources),
        linkBase: call.linkBase,
        selfUrl: page.selfUrl,
        nextUrl,
        offset: page.offset,
        count: page.count,
        total: result.total,
        lastUpdated: formatInstant(now, call.zone),
        behaviour: call.behaviour,
      }),
      { 'last-modified': new Date(now).toUTCString() },
    );
  };

  const rawQueryString = (request: FastifyRequest): string => {
    const url = request.raw.url ?? '';
    const q = url.indexOf('?');
    return q < 0 ? '' : url.slice(q + 1);
  };

  /** `{base}?_getpages=…`: the next page of a search, replayed from its cursor. */
  const continueSearch = (
    request: FastifyRequest,
    reply: FastifyReply,
    call: FhirCall,
    entries: [string, string][],
  ) => {
    const text = entries.find(([n]) => n === '_getpages')?.[1] ?? '';
    const cursor = decodeCursor(text);
    if (!cursor || cursor.c !== call.code) {
      // HAPI: 410 Gone for an unknown or expired search id.
      throw new FhirError(
        410,
        'not-found',
        `Search id "${text.slice(0, 64)}" does not exist and may have expired`,
      );
    }
    if (cursor.p !== call.grant.patientId) {
      throw new FhirError(403, 'forbidden', 'This page belongs to a search of another patient');
    }
    const type = knownType(cursor.t);
    const permission = searchPermission(call, type);
    const parsed = parseSearch(type, cursor.q, call.zone, limits);
    const countParam = entries.find(([n]) => n === '_count')?.[1];
    const count = countParam === undefined ? cursor.n : parseCount(countParam, limits);
    return sendPage(reply, call, type, parsed, restrict(parsed.query, permission, type), {
      after: cursor.a,
      offset: cursor.o,
      count,
      selfUrl: `${call.linkBase}?${rawQueryString(request)}`,
    });
  };

  const queryEntries = (request: FastifyRequest): [string, string][] => {
    const parsed = rawQuerySchema.safeParse(request.query ?? {});
    if (!parsed.success) throw new FhirError(400, 'invalid', 'Malformed query string');
    return entriesOf(parsed.data);
  };

  app.get(
    '/fhir/r4/:practice',
    handle((request, reply) => {
      const call = open(request);
      const entries = queryEntries(request);
      if (!entries.some(([n]) => n === '_getpages')) {
        throw new FhirError(
          400,
          'not-supported',
          'Invalid request: no resource type in the URL (system-level search is not supported)',
        );
      }
      return continueSearch(request, reply, call, entries);
    }),
  );

  app.get(
    '/fhir/r4/:practice/:type',
    handle((request, reply) => {
      const call = open(request);
      const { type: rawType } = request.params as { type: string };
      const entries = queryEntries(request);
      if (entries.some(([n]) => n === '_getpages'))
        return continueSearch(request, reply, call, entries);
      const type = knownType(rawType);
      const permission = searchPermission(call, type);
      checkParameterSet(call, type, entries);
      const parsed = parseSearch(type, entries, call.zone, limits);
      checkPatient(call, parsed);
      const query = restrict(parsed.query, permission, type);
      const qs = rawQueryString(request);
      return sendPage(reply, call, type, parsed, query, {
        after: 0,
        offset: 0,
        count: parsed.count,
        selfUrl: call.behaviour.ownLinkOrder
          ? selfLink(call.linkBase, type, entries, true)
          : `${call.linkBase}/${type}${qs ? `?${qs}` : ''}`,
      });
    }),
  );

  app.get(
    '/fhir/r4/:practice/:type/:id',
    handle((request, reply) => {
      const call = open(request);
      const { type: rawType, id } = request.params as { type: string; id: string };
      const type = knownType(rawType);
      const permission = accessFor(call.grant.scopes, type).read;
      if (permission === 'none') {
        throw new FhirError(
          403,
          'forbidden',
          `Insufficient scope: reading ${type} needs ${requiredScope(type, 'read')}`,
        );
      }
      const result = ctx.data.read(call.code, call.grant.patientId, type, id, call.linkBase);
      if (result.status === 'missing')
        throw new FhirError(404, 'not-found', `Resource ${type}/${id} is not known`);
      if (result.status === 'gone')
        throw new FhirError(410, 'deleted', `Resource ${type}/${id} has been deleted`);
      const { resource } = result;
      if (permission !== 'all') {
        const categories = extractSearchKeys(resource, call.zone).tokens.category ?? [];
        if (!categories.some((k) => permission.categories.some((c) => tokenMatches(k, c)))) {
          throw new FhirError(
            403,
            'forbidden',
            `Insufficient scope: the granted ${type} scopes do not cover this resource's category`,
          );
        }
      }
      const meta = resource.meta ?? {};
      const b = call.behaviour;
      const headers: Record<string, string> = {};
      if (b.versionIds && meta.versionId) headers.etag = `W/"${meta.versionId}"`;
      if (meta.lastUpdated) headers['last-modified'] = new Date(meta.lastUpdated).toUTCString();
      // healow's Content-Location is not under the base: `/r4/*/{code}/{Type}/{id}`.
      if (b.contentLocation) headers['content-location'] = `/r4/*/${call.code}/${type}/${id}`;
      return sendFhir(reply, b, 200, asSent(resource, b), headers);
    }),
  );

  // healow's facade is read-only for patient apps: any write is refused with an OperationOutcome.
  const refuseWrite = handle(() => {
    throw new FhirError(
      405,
      'not-supported',
      'This server is read-only: only read and search-type interactions are supported',
    );
  });
  for (const url of [
    '/fhir/r4/:practice',
    '/fhir/r4/:practice/:type',
    '/fhir/r4/:practice/:type/:id',
  ]) {
    app.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE'], url, handler: refuseWrite });
  }
}
