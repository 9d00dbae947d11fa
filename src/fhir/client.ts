// The FHIR HTTP client: every attempt spends a budget call, goes only to the pinned practice base,
// refreshes once on 401, backs off on 5xx and network failures, honours upstream 429s, and pages
// searchsets along rebased `next` links.

import type { Bundle, Resource } from 'fhir/r4.js';
import type { Budget, Grant, Priority } from '../budget/port.ts';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { Metrics } from '../metrics/index.ts';
import { abortableSleep, backoffDelay, parseRetryAfter } from './backoff.ts';
import { nextLink, parseBundle, resourcesOf } from './bundles.ts';
import type { VendorProfile } from './profiles.ts';
import { checkContentType, discard, failureFrom } from './responses.ts';
import { pooledFetch, whenBodyDone } from './transport.ts';
import {
  assertPinned,
  type PracticeBase,
  parseBase,
  rebaseLink,
  relativeToBase,
  resolveOnBase,
} from './urls.ts';

/** One connection's view of one practice: where to call, which budget, which token. */
export interface FhirTarget {
  /** The practice base URL we chose (directory or operator), no trailing slash. */
  base: string;
  /** The budget key (the base URL). */
  practiceKey: string;
  connectionId?: string;
  profile: VendorProfile;
  tokens: {
    accessToken(): Promise<string>;
    /** Forces a refresh after a 401; returns the new access token. */
    refreshed(): Promise<string>;
  };
  /** Only for loopback and development: production bases are https. */
  allowHttp?: boolean;
}

export interface RequestOptions {
  priority: Priority;
  /**
   * Epoch ms: the budget gives up (`budget_exhausted`), no attempt waits for an answer past it
   * (a 504 `upstream_error`), and backoff stops at this time.
   */
  deadline?: number;
  signal?: AbortSignal;
  /** Per attempt, for this request only; the client's `timeoutMs` when absent. */
  timeoutMs?: number;
  /**
   * Whether an attempt that got no answer in time is retried (default true). A caller that is
   * waiting (the API proxy) says false: one timeout is its answer, not four and their backoff.
   */
  retryTimeouts?: boolean;
}

export interface SearchOptions extends RequestOptions {
  /** Refuse to read more pages than this in one search (default: the client's maxPages). */
  maxPages?: number;
}

export type SearchInput = Record<string, string> | URLSearchParams;

export interface FhirClient {
  /**
   * One GET relative to the base (`Patient/1`, `Observation?patient=1&category=laboratory`).
   * Resolves with a 2xx FHIR JSON response whose body is not yet read (the API proxy streams
   * it); every other outcome is a BridgeError.
   */
  request(target: FhirTarget, pathAndQuery: string, options: RequestOptions): Promise<Response>;
  /**
   * `request` for the API proxy: a 4xx answer (after the one refresh on 401; a 429 still waits
   * and then fails `rate_limited`) resolves too, its body unread, so that the EHR's
   * OperationOutcome can be passed on. 5xx, timeouts and network failures are BridgeErrors.
   */
  forward(target: FhirTarget, pathAndQuery: string, options: RequestOptions): Promise<Response>;
  /** `request` with the body parsed as JSON. */
  readJson(target: FhirTarget, pathAndQuery: string, options: RequestOptions): Promise<unknown>;
  /** `GET [base]/type/id`, checked to be a resource of that type. */
  read<T extends Resource = Resource>(
    target: FhirTarget,
    type: string,
    id: string,
    options: RequestOptions,
  ): Promise<T>;
  /** The searchset pages of `GET [base]/type?params`, following `next` links. */
  search(
    target: FhirTarget,
    type: string,
    params: SearchInput,
    options: SearchOptions,
  ): AsyncGenerator<Bundle, void, undefined>;
  /** Every resource of every page of a search (search.mode `outcome` entries left out). */
  searchAll<T extends Resource = Resource>(
    target: FhirTarget,
    type: string,
    params: SearchInput,
    options: SearchOptions,
  ): Promise<T[]>;
}

export interface FhirClientDeps {
  budget: Budget;
  /** The HTTP GET; default `pooledFetch` (undici's pooled `request`). */
  fetch?: typeof fetch;
  clock: Clock;
  logger?: Logger;
  /** Per attempt, headers and body alike. Default 30 s. */
  timeoutMs?: number;
  /** Retries after 5xx or network failures (GET only, so always safe). Default 3. */
  retries?: number;
  /** Source of backoff jitter, in [0, 1). */
  random?: () => number;
  /** Injectable so that tests do not wait. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Upstream 429s survived per request before giving up with `rate_limited`. Default 5. */
  rateLimitRetries?: number;
  /** Pages read per search at most. Default 1000. */
  maxPages?: number;
  /** Counts every upstream call by practice and status. */
  metrics?: Pick<Metrics, 'fhirCall'>;
}

/** FHIR R4 resource type names: the path segment must be one, never something to traverse. */
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
/** FHIR ids are [A-Za-z0-9\-.]{1,64}; healow's are longer, so only the alphabet is enforced. */
const RESOURCE_ID = /^[A-Za-z0-9\-.]{1,256}$/;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

function checkType(type: string): void {
  if (!RESOURCE_TYPE.test(type)) {
    throw new BridgeError('invalid_request', `"${type}" is not a FHIR resource type`);
  }
}

function searchPath(type: string, params: SearchInput): string {
  checkType(type);
  const query = new URLSearchParams(params).toString();
  return query ? `${type}?${query}` : type;
}

/** One attempt's abort signal, and how to stop its timer once the answer is in. */
interface AttemptSignal {
  signal: AbortSignal;
  /** Whether the attempt's time ran out (rather than the caller aborting). */
  timedOut(): boolean;
  /** Stops the timer and lets go of the caller's signal; safe to call more than once. */
  done(): void;
}

/**
 * The caller's signal and the attempt's timeout through one controller and one timer: an
 * `AbortSignal.timeout` and an `AbortSignal.any` per attempt cost a proxied read more. The
 * timeout aborts with a `TimeoutError` DOMException, as `AbortSignal.timeout` does.
 */
function attemptSignal(ms: number, caller: AbortSignal | undefined): AttemptSignal {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError'));
  }, ms);
  timer.unref();
  const onAbort = () => controller.abort(caller?.reason);
  if (caller?.aborted) onAbort();
  else caller?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    done() {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
  };
}

export function createFhirClient(deps: FhirClientDeps): FhirClient {
  const {
    budget,
    clock,
    logger,
    timeoutMs = 30_000,
    retries = 3,
    random = Math.random,
    sleep = abortableSleep,
    rateLimitRetries = 5,
    maxPages: defaultMaxPages = 1000,
  } = deps;
  const doFetch = deps.fetch ?? pooledFetch;

  function baseOf(target: FhirTarget): PracticeBase {
    return parseBase(target.base, target.allowHttp);
  }

  /** Waits before a retry unless that would pass the deadline, in which case `failure` stands. */
  async function backOff(ms: number, failure: BridgeError, options: RequestOptions): Promise<void> {
    if (options.deadline !== undefined && clock.now() + ms > options.deadline) throw failure;
    await sleep(ms, options.signal);
  }

  /** Where one GET stands between its attempts. */
  interface Attempts {
    url: URL;
    /** The token after the one refresh a 401 earns. */
    refreshedToken?: string;
    failures: number;
    rateLimited: number;
    redirects: number;
  }

  type ClientErrors = 'throw' | 'return';

  /** A budget slot for the next attempt (waits within the deadline, the caller's priority). */
  async function acquireSlot(target: FhirTarget, options: RequestOptions): Promise<Grant> {
    return budget.acquire(target.practiceKey, {
      priority: options.priority,
      ...(target.connectionId === undefined ? {} : { connectionId: target.connectionId }),
      ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  /** One attempt's time: the request's timeout, cut at the deadline. */
  function attemptMsFor(options: RequestOptions, started: number): number {
    const deadlineMs =
      options.deadline === undefined ? Number.POSITIVE_INFINITY : options.deadline - started;
    return Math.max(1, Math.min(options.timeoutMs ?? timeoutMs, deadlineMs));
  }

  /** One HTTP GET with the token; a network failure or timeout comes back as a BridgeError. */
  async function fetchOnce(
    target: FhirTarget,
    url: URL,
    what: string,
    token: string,
    attemptMs: number,
    options: RequestOptions,
  ): Promise<{ res: Response } | { failure: BridgeError; timedOut: boolean }> {
    const attempt = attemptSignal(attemptMs, options.signal);
    try {
      const res = await doFetch(url, {
        method: 'GET',
        headers: { accept: target.profile.accept, authorization: `Bearer ${token}` },
        // Redirects are followed here, after the pin check, never by fetch itself.
        redirect: 'manual',
        signal: attempt.signal,
      });
      // The timeout runs on while the body streams in, and ends with it. The answer of a fetch
      // whose body's end cannot be seen keeps its timer, which ends the attempt's signal at worst.
      whenBodyDone(res, attempt.done);
      return { res };
    } catch (cause) {
      attempt.done();
      deps.metrics?.fhirCall(target.practiceKey, 'network');
      if (options.signal?.aborted) throw options.signal.reason;
      const timedOut = attempt.timedOut();
      const failure = new BridgeError(
        'upstream_error',
        timedOut
          ? `${what}: no answer within ${attemptMs} ms`
          : `${what}: the FHIR server could not be reached`,
        { status: timedOut ? 504 : 502, details: { timeout: timedOut }, cause },
      );
      return { failure, timedOut };
    }
  }

  /**
   * What an answer means for the GET: the response to hand out, or undefined to attempt again
   * (a redirect, the one refresh after a 401, an upstream 429, a 5xx with retries left).
   * Throws the failure that ends it.
   */
  async function settle(
    target: FhirTarget,
    res: Response,
    path: string,
    state: Attempts,
    options: RequestOptions,
    clientErrors: ClientErrors,
  ): Promise<Response | undefined> {
    const what = `GET ${path}`;
    if (res.ok) {
      try {
        checkContentType(res, what);
      } catch (error) {
        await discard(res);
        throw error;
      }
      return res;
    }
    if (REDIRECTS.has(res.status)) {
      const location = res.headers.get('location');
      await discard(res);
      if (!location || state.redirects >= MAX_REDIRECTS) {
        throw new BridgeError('upstream_error', `${what}: redirect without a usable Location`, {
          status: 502,
          details: { upstreamStatus: res.status },
        });
      }
      state.redirects++;
      state.url = new URL(location, state.url);
      return undefined;
    }
    if (res.status === 401 && state.refreshedToken === undefined) {
      // One refresh, one retry: a second 401 with a fresh token is a real rejection.
      await discard(res);
      state.refreshedToken = await target.tokens.refreshed();
      return undefined;
    }
    if (res.status === 429 && state.rateLimited < rateLimitRetries) {
      // healow blocks the rest of the clock minute; the budget locks the practice, and the
      // next acquire() waits the lock out.
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), clock.now());
      await discard(res);
      state.rateLimited++;
      logger?.warn(
        { fhir: { method: 'GET', path, status: 429, retryAfterMs } },
        'fhir request rate limited upstream',
      );
      await budget.reportRateLimited(
        target.practiceKey,
        retryAfterMs === undefined ? {} : { retryAfterMs },
      );
      return undefined;
    }
    if (res.status >= 500 && state.failures < retries) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), clock.now());
      const failure = await failureFrom(res, what);
      state.failures++;
      logger?.warn(
        { fhir: { method: 'GET', path, status: res.status } },
        'fhir request failed, retrying',
      );
      await backOff(retryAfterMs ?? backoffDelay(state.failures, random), failure, options);
      return undefined;
    }
    const clientError = res.status >= 400 && res.status < 500 && res.status !== 429;
    if (clientErrors === 'return' && clientError) return res;
    throw await failureFrom(res, what);
  }

  /** The attempt loop for one GET. Never follows a URL that fails the pin check. */
  async function send(
    target: FhirTarget,
    base: PracticeBase,
    start: URL,
    options: RequestOptions,
    clientErrors: ClientErrors = 'throw',
  ): Promise<Response> {
    const state: Attempts = { url: start, failures: 0, rateLimited: 0, redirects: 0 };
    for (let attempt = 1; ; attempt++) {
      // Before every attempt, redirects included: the token goes to the base's origin only.
      assertPinned(base, state.url);
      const path = relativeToBase(base, state.url);
      options.signal?.throwIfAborted();
      // The token first: a refresh it may wait for (its own call, another process's lease) must
      // not hold a granted slot, or the call goes out in a later window than the one it counted
      // in, on top of that window's own calls.
      const token = state.refreshedToken ?? (await target.tokens.accessToken());
      const grant = await acquireSlot(target, options);
      const started = clock.now();
      const attemptMs = attemptMsFor(options, started);
      const sent = await fetchOnce(target, state.url, `GET ${path}`, token, attemptMs, options);
      if ('failure' in sent) {
        const { failure, timedOut } = sent;
        logger?.warn({ fhir: { method: 'GET', path, attempt, timedOut } }, 'fhir request failed');
        if (state.failures >= retries || (timedOut && options.retryTimeouts === false)) {
          throw failure;
        }
        state.failures++;
        await backOff(backoffDelay(state.failures, random), failure, options);
        continue;
      }
      const { res } = sent;
      // Its headers are in: the budget learns in which window the call arrived.
      void budget.landed(grant, clock.now());
      deps.metrics?.fhirCall(target.practiceKey, res.status);
      logger?.debug(
        { fhir: { method: 'GET', path, status: res.status, ms: clock.now() - started, attempt } },
        'fhir request',
      );
      const settled = await settle(target, res, path, state, options, clientErrors);
      if (settled) return settled;
    }
  }

  async function request(
    target: FhirTarget,
    pathAndQuery: string,
    options: RequestOptions,
  ): Promise<Response> {
    const base = baseOf(target);
    return send(target, base, resolveOnBase(base, pathAndQuery), options);
  }

  /** The body as JSON; the attempt's timeout still runs while it streams in. */
  async function jsonOf(res: Response, what: string, signal?: AbortSignal): Promise<unknown> {
    try {
      return await res.json();
    } catch (cause) {
      if (signal?.aborted) throw signal.reason;
      const timedOut = cause instanceof DOMException && cause.name === 'TimeoutError';
      throw new BridgeError(
        'upstream_error',
        timedOut
          ? `${what}: the body did not arrive within ${timeoutMs} ms`
          : `${what}: the body is not readable JSON`,
        { status: timedOut ? 504 : 502, details: { timeout: timedOut }, cause },
      );
    }
  }

  async function forward(
    target: FhirTarget,
    pathAndQuery: string,
    options: RequestOptions,
  ): Promise<Response> {
    const base = baseOf(target);
    return send(target, base, resolveOnBase(base, pathAndQuery), options, 'return');
  }

  async function readJson(
    target: FhirTarget,
    pathAndQuery: string,
    options: RequestOptions,
  ): Promise<unknown> {
    const base = baseOf(target);
    const url = resolveOnBase(base, pathAndQuery);
    const res = await send(target, base, url, options);
    return jsonOf(res, `GET ${relativeToBase(base, url)}`, options.signal);
  }

  async function read<T extends Resource = Resource>(
    target: FhirTarget,
    type: string,
    id: string,
    options: RequestOptions,
  ): Promise<T> {
    checkType(type);
    // `.` and `..` would be path traversal, not ids.
    if (!RESOURCE_ID.test(id) || /^\.+$/.test(id)) {
      throw new BridgeError('invalid_request', `"${id}" is not a FHIR resource id`);
    }
    const body = await readJson(target, `${type}/${id}`, options);
    const resourceType = (body as { resourceType?: unknown } | null)?.resourceType;
    if (resourceType !== type) {
      throw new BridgeError(
        'upstream_error',
        `GET ${type}/${id}: expected a ${type}, got ${typeof resourceType === 'string' ? resourceType : 'something else'}`,
        { status: 502 },
      );
    }
    return body as T;
  }

  async function* search(
    target: FhirTarget,
    type: string,
    params: SearchInput,
    options: SearchOptions,
  ): AsyncGenerator<Bundle, void, undefined> {
    const base = baseOf(target);
    const maxPages = options.maxPages ?? defaultMaxPages;
    const seen = new Set<string>();
    let url: URL | undefined = resolveOnBase(base, searchPath(type, params));
    while (url) {
      const what = `GET ${relativeToBase(base, url)}`;
      if (seen.has(url.href)) {
        throw new BridgeError(
          'upstream_error',
          `${what}: the next link loops back to a page already read`,
          {
            status: 502,
          },
        );
      }
      if (seen.size >= maxPages) {
        throw new BridgeError('upstream_error', `${type} search: more than ${maxPages} pages`, {
          status: 502,
        });
      }
      seen.add(url.href);
      const res = await send(target, base, url, options);
      const bundle = parseBundle(await jsonOf(res, what, options.signal), what);
      yield bundle;
      // Only the next link ends or continues paging: Bundle.total and empty pages do not.
      const next = nextLink(bundle);
      url = next === undefined ? undefined : rebaseLink(base, next);
    }
  }

  async function searchAll<T extends Resource = Resource>(
    target: FhirTarget,
    type: string,
    params: SearchInput,
    options: SearchOptions,
  ): Promise<T[]> {
    const all: T[] = [];
    for await (const page of search(target, type, params, options)) {
      all.push(...resourcesOf<T>(page));
    }
    return all;
  }

  return { request, forward, readJson, read, search, searchAll };
}
