// `fhirbridge/client`: a typed client of the JSON API for app backends, thin over fetch. The
// answer types are the server's own (type-only imports, erased at run time), so they cannot
// drift; `/openapi.json` describes the same API for other languages.
import type { SyncMode } from '../jobs/sync-job.ts';
import type { PracticeView } from '../practices/view.ts';
import type { SyncStatusView } from '../records/sync-status.ts';
import type { ConnectionView } from '../vault/index.ts';

export type { ConnectionView, PracticeView, SyncStatusView };

export interface ClientOptions {
  /** fhirbridge's URL, e.g. `https://bridge.example.com`. */
  baseUrl: string;
  /** An API key (`fb_…`): an app key for an app backend. */
  apiKey: string;
  fetch?: typeof fetch;
}

/** What the API answered instead of success: its status, `error.code` and message. */
export class FhirbridgeApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** The X-Request-Id of the call, to find it in the server's log. */
  readonly requestId: string | null;

  constructor(status: number, code: string, message: string, requestId: string | null) {
    super(message);
    this.name = 'FhirbridgeApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

export interface StartedConnection {
  id: string;
  /** Send the patient's browser here: it signs in at the EHR and comes back. */
  authorizeUrl: string;
  connection: ConnectionView;
}

export interface ConnectionPage {
  connections: ConnectionView[];
  limit: number;
  offset?: number;
  nextCursor: string | null;
}

export interface SyncStarted extends SyncStatusView {
  /** False when a sync was already queued or running (that one is returned). */
  created: boolean;
}

/** A FHIR searchset Bundle as the records API answers it. */
export interface SearchBundle {
  resourceType: 'Bundle';
  type: 'searchset';
  total?: number;
  link: Array<{ relation: string; url: string }>;
  entry?: Array<{ fullUrl?: string; resource: { resourceType: string; id?: string } }>;
}

export type Query = Record<string, string | number | undefined>;

export interface FhirbridgeClient {
  connections: {
    /** Starts connecting a user of the app at a practice (its id, e.g. healow's practice code). */
    create(input: {
      practice: string;
      userRef: string;
      returnTo?: string;
    }): Promise<StartedConnection>;
    get(id: string): Promise<ConnectionView>;
    list(query?: Query): Promise<ConnectionPage>;
    /** Forgets the connection; with `keepRecord`, what was synced stays readable. */
    delete(id: string, options?: { keepRecord?: boolean }): Promise<void>;
    reconnect(id: string, input?: { returnTo?: string }): Promise<StartedConnection>;
    refresh(id: string): Promise<ConnectionView>;
  };
  sync: {
    start(id: string, input?: { mode?: SyncMode }): Promise<SyncStarted>;
    get(id: string): Promise<SyncStatusView>;
  };
  resources: {
    search(id: string, type: string, query?: Query): Promise<SearchBundle>;
    read<T = Record<string, unknown>>(id: string, type: string, resourceId: string): Promise<T>;
  };
  practices: {
    search(query?: Query): Promise<{ practices: PracticeView[] } & Record<string, unknown>>;
    get(id: string): Promise<PracticeView>;
  };
  /** A live FHIR read through the connection (`GET {base}/{path}` at the practice). */
  fhir<T = Record<string, unknown>>(id: string, path: string): Promise<T>;
}

export function createClient({
  baseUrl,
  apiKey,
  fetch: fetchImpl = globalThis.fetch,
}: ClientOptions): FhirbridgeClient {
  const root = baseUrl.replace(/\/+$/, '');
  const enc = encodeURIComponent;

  async function call<T>(
    method: string,
    path: string,
    { body, query }: { body?: unknown; query?: Query } = {},
  ): Promise<T> {
    const url = new URL(`${root}${path}`);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const response = await fetchImpl(url, {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        accept: 'application/json, application/fhir+json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) throw errorOf(response, parsed);
    return parsed as T;
  }

  return {
    connections: {
      create: (input) => call('POST', '/api/connections', { body: input }),
      get: (id) => call('GET', `/api/connections/${enc(id)}`),
      list: (query) => call('GET', '/api/connections', { query: query ?? {} }),
      delete: (id, options) =>
        call('DELETE', `/api/connections/${enc(id)}`, {
          query: options?.keepRecord ? { keep: 'record' } : {},
        }),
      reconnect: (id, input) =>
        call('POST', `/api/connections/${enc(id)}/reconnect`, { body: input ?? {} }),
      refresh: (id) => call('POST', `/api/connections/${enc(id)}/refresh`),
    },
    sync: {
      start: (id, input) => call('POST', `/api/connections/${enc(id)}/sync`, { body: input ?? {} }),
      get: (id) => call('GET', `/api/connections/${enc(id)}/sync`),
    },
    resources: {
      search: (id, type, query) =>
        call('GET', `/api/connections/${enc(id)}/resources/${enc(type)}`, { query: query ?? {} }),
      read: (id, type, resourceId) =>
        call('GET', `/api/connections/${enc(id)}/resources/${enc(type)}/${enc(resourceId)}`),
    },
    practices: {
      search: (query) => call('GET', '/api/practices', { query: query ?? {} }),
      get: (id) => call('GET', `/api/practices/${enc(id)}`),
    },
    fhir: (id, path) => call('GET', `/api/connections/${enc(id)}/fhir/${path.replace(/^\/+/, '')}`),
  };
}

/** The API's `{error: {code, message}}`, or a FHIR route's OperationOutcome, as one error. */
function errorOf(response: Response, body: unknown): FhirbridgeApiError {
  const requestId = response.headers.get('x-request-id');
  const api = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (api && typeof api.code === 'string') {
    return new FhirbridgeApiError(response.status, api.code, String(api.message), requestId);
  }
  const issue = (body as { issue?: Array<{ code?: unknown; diagnostics?: unknown }> } | undefined)
    ?.issue?.[0];
  return new FhirbridgeApiError(
    response.status,
    typeof issue?.code === 'string' ? issue.code : `http_${response.status}`,
    typeof issue?.diagnostics === 'string' ? issue.diagnostics : `HTTP ${response.status}`,
    requestId,
  );
}
