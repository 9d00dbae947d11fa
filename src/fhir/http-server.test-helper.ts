// Test doubles for the FHIR client's tests: a loopback HTTP server that records what it received,
// a budget that records acquisitions, and a fetch that refuses every host but 127.0.0.1.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import type { AcquireOptions, Budget, BudgetUsage, Grant } from '../budget/port.ts';
import type { FhirTarget } from './client.ts';
import { healowProfile, type VendorProfile } from './profiles.ts';

export interface Received {
  method: string;
  url: string;
  authorization: string | undefined;
  accept: string | undefined;
}

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  received: Received[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void;

export async function startServer(handler: Handler): Promise<TestServer> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    received.push({
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization,
      accept: req.headers.accept,
    });
    handler(req, res, received.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * `serve(handler)` for the tests of one file: a server per call, every one closed after each
 * test (registers the `afterEach`, so call it at the top of the file).
 */
export function serversPerTest(): (handler: Handler) => Promise<TestServer> {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return async (handler) => {
    const server = await startServer(handler);
    servers.push(server);
    return server;
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/fhir+json', ...headers });
  res.end(JSON.stringify(body));
}

export function outcome(diagnostics: string) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'processing', diagnostics }],
  };
}

export interface RecordingBudget extends Budget {
  acquired: Array<{ practice: string; options: AcquireOptions }>;
  rateLimited: Array<{ practice: string; info: { retryAfterMs?: number } | undefined }>;
  /** The grants reported answered (`landed`), with when. */
  answers: Array<{ grant: Grant; answeredAt: number }>;
}

/** A budget that grants every call at once and remembers each acquisition, answer and 429 report. */
export function recordingBudget(): RecordingBudget {
  const acquired: RecordingBudget['acquired'] = [];
  const rateLimited: RecordingBudget['rateLimited'] = [];
  const answers: RecordingBudget['answers'] = [];
  const usage = (practice: string): BudgetUsage => ({
    practice,
    limit: 240,
    used: acquired.filter((a) => a.practice === practice).length,
    windowStart: 0,
    windowEnd: 60_000,
    waiting: { interactive: 0, refresh: 0, background: 0 },
    lockedUntil: null,
    lockReason: null,
    rateLimited: rateLimited.filter((r) => r.practice === practice).length,
  });
  return {
    acquired,
    rateLimited,
    answers,
    async acquire(practice, options) {
      acquired.push({ practice, options });
      return { practice, window: 0, guard: false, cost: 1, priority: options.priority };
    },
    async landed(grant, answeredAt) {
      answers.push({ grant, answeredAt });
    },
    async unsent() {},
    async reportRateLimited(practice, info) {
      rateLimited.push({ practice, info });
    },
    async usage(practice) {
      return usage(practice);
    },
    async usageAll() {
      return [...new Set(acquired.map((a) => a.practice))].map(usage);
    },
    async close() {},
  };
}

/** Node's fetch, refusing anything but loopback: a rebasing bug must not reach a real host. */
export const loopbackFetch: typeof fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.hostname !== '127.0.0.1') {
    return Promise.reject(new Error(`test fetch refused non-loopback host ${url.host}`));
  }
  return fetch(input, init);
};

export interface TestTokens {
  current: string;
  refreshes: number;
  /** What `refreshed()` switches to. */
  next: string;
}

export function testTarget(
  base: string,
  overrides: Partial<FhirTarget> & { profile?: VendorProfile } = {},
): FhirTarget & { tokenState: TestTokens } {
  const tokenState: TestTokens = { current: 'at-secret-1', refreshes: 0, next: 'at-secret-2' };
  return {
    base,
    practiceKey: base,
    connectionId: 'con_1',
    profile: healowProfile,
    allowHttp: true,
    tokens: {
      accessToken: async () => tokenState.current,
      refreshed: async () => {
        tokenState.refreshes++;
        tokenState.current = tokenState.next;
        return tokenState.current;
      },
    },
    ...overrides,
    tokenState,
  };
}
