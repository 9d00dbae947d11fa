import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { type BridgeError, isBridgeError } from '../common/errors.ts';
import { createFhirClient, type FhirClientDeps } from './client.ts';
import {
  loopbackFetch,
  outcome,
  recordingBudget,
  sendJson,
  serversPerTest,
  startServer,
  testTarget,
} from './http-server.test-helper.ts';
import { genericProfile } from './profiles.ts';

const PATH = '/fhir/r4/JAFJCD';
const opts = { priority: 'interactive' } as const;

const serve = serversPerTest();

function setup(overrides: Partial<FhirClientDeps> = {}) {
  const budget = recordingBudget();
  const delays: number[] = [];
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const client = createFhirClient({
    budget,
    clock,
    fetch: loopbackFetch,
    random: () => 0.5,
    sleep: async (ms) => {
      delays.push(ms);
    },
    ...overrides,
  });
  return { client, budget, delays, clock };
}

async function failure(promise: Promise<unknown>): Promise<BridgeError> {
  try {
    await promise;
  } catch (error) {
    if (isBridgeError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

function page(resources: Array<{ id: string }>, next?: string, total?: number) {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(total === undefined ? {} : { total }),
    link: [
      { relation: 'self', url: 'http://fhir4.eclinicalworks.com/fhir/r4/JAFJCD/Observation' },
      ...(next ? [{ relation: 'next', url: next }] : []),
    ],
    ...(resources.length
      ? {
          entry: resources.map((r) => ({
            fullUrl: `http://fhir4.eclinicalworks.com/fhir/r4/JAFJCD/Observation/${r.id}`,
            resource: { resourceType: 'Observation', ...r },
            search: { mode: 'match' },
          })),
        }
      : {}),
  };
}

describe('content types and headers', () => {
  it.each(['application/fhir+json', 'application/json', 'application/json+fhir;charset=UTF-8'])(
    'accepts %s and sends Accept and the bearer token',
    async (contentType) => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': contentType });
        res.end(JSON.stringify({ resourceType: 'Patient', id: 'p-1.x' }));
      });
      const { client } = setup();
      const patient = await client.read(testTarget(server.origin + PATH), 'Patient', 'p-1.x', opts);
      expect(patient.id).toBe('p-1.x');
      expect(server.received[0]).toMatchObject({
        url: `${PATH}/Patient/p-1.x`,
        accept: 'application/fhir+json',
        authorization: 'Bearer at-secret-1',
      });
    },
  );

  it('refuses a 200 that is not FHIR JSON', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>login</html>');
    });
    const { client } = setup();
    const error = await failure(
      client.readJson(testTarget(server.origin + PATH), 'metadata', opts),
    );
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('text/html');
  });

  it('request() hands back a streamable response', async () => {
    const server = await serve((_req, res) =>
      sendJson(res, 200, { resourceType: 'Binary', data: 'aGk=' }),
    );
    const { client } = setup();
    const res = await client.request(testTarget(server.origin + PATH), 'Binary/b1', opts);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/fhir+json');
    const text = await new Response(res.body).text();
    expect(JSON.parse(text)).toEqual({ resourceType: 'Binary', data: 'aGk=' });
  });

  it('read() checks the resource type and refuses ids that would traverse', async () => {
    const server = await serve((_req, res) => sendJson(res, 200, outcome('odd')));
    const { client, budget } = setup();
    const target = testTarget(server.origin + PATH);
    expect((await failure(client.read(target, 'Patient', 'p1', opts))).code).toBe('upstream_error');
    expect((await failure(client.read(target, 'Patient', '..', opts))).code).toBe(
      'invalid_request',
    );
    expect((await failure(client.read(target, '../x', 'p1', opts))).code).toBe('invalid_request');
    expect(budget.acquired).toHaveLength(1);
  });
});

describe('paging', () => {
  it('follows next links from a foreign http host rebased onto our base, ignoring a wrong total', async () => {
    const server = await serve((req, res) => {
      const url = req.url ?? '';
      if (url === `${PATH}/Observation?patient=p1&category=laboratory`) {
        return sendJson(
          res,
          200,
          page(
            [{ id: 'o1' }, { id: 'o2' }],
            'http://fhir4.eclinicalworks.com/fhir/r4/JAFJCD?_getpages=abc&_getpagesoffset=2',
            // healow's totals do not match the entries: never a reason to stop or go on.
            2,
          ),
          { 'content-type': 'application/json+fhir;charset=UTF-8' },
        );
      }
      if (url === `${PATH}?_getpages=abc&_getpagesoffset=2`) {
        return sendJson(
          res,
          200,
          page([{ id: 'o3' }], 'http://other.example/fhir/r4/JAFJCD/Observation?page=3', 2),
        );
      }
      if (url === `${PATH}/Observation?page=3`)
        return sendJson(res, 200, page([{ id: 'o4' }], undefined, 50));
      sendJson(res, 404, outcome(`unexpected ${url}`));
    });
    const { client, budget } = setup();
    const target = testTarget(server.origin + PATH);
    const all = await client.searchAll(
      target,
      'Observation',
      { patient: 'p1', category: 'laboratory' },
      opts,
    );
    expect(all.map((r) => r.id)).toEqual(['o1', 'o2', 'o3', 'o4']);
    expect(server.received.map((r) => r.authorization)).toEqual(
      Array(3).fill('Bearer at-secret-1'),
    );
    // Every page is its own budgeted call.
    expect(budget.acquired).toHaveLength(3);
    expect(budget.acquired[0]).toEqual({
      practice: target.practiceKey,
      options: { priority: 'interactive', connectionId: 'con_1' },
    });
    // Each answer is reported, so the budget learns where a guard call landed.
    expect(budget.answers.map(({ grant }) => grant.practice)).toEqual(
      Array(3).fill(target.practiceKey),
    );
  });

  it('never sends the token to another host or a path outside the base', async () => {
    const other = await serve((_req, res) => sendJson(res, 200, page([{ id: 'stolen' }])));
    const server = await serve((req, res) => {
      if (req.url === `${PATH}/Observation?patient=p1`) {
        return sendJson(
          res,
          200,
          page([{ id: 'o1' }], `${other.origin}/elsewhere/Observation?page=2`),
        );
      }
      if (req.url === `${PATH}/Patient/redirected`) {
        res.writeHead(302, { location: `${other.origin}${PATH}/Patient/redirected` });
        return res.end();
      }
      sendJson(res, 404, outcome('no'));
    });
    const { client } = setup();
    const target = testTarget(server.origin + PATH);
    const pages: unknown[] = [];
    const error = await failure(
      (async () => {
        for await (const bundle of client.search(target, 'Observation', { patient: 'p1' }, opts)) {
          pages.push(bundle);
        }
      })(),
    );
    expect(error.code).toBe('host_not_allowed');
    expect(pages).toHaveLength(1);
    expect(error.message).not.toContain('at-secret');

    const redirect = await failure(client.read(target, 'Patient', 'redirected', opts));
    expect(redirect.code).toBe('host_not_allowed');
    expect(other.received).toEqual([]);
  });

  it('rebases a next link that names another host under the base path instead of calling it', async () => {
    const other = await serve((_req, res) => sendJson(res, 200, page([{ id: 'stolen' }])));
    const server = await serve((req, res) => {
      if (req.url === `${PATH}/Observation?patient=p1`) {
        return sendJson(
          res,
          200,
          page([{ id: 'o1' }], `${other.origin}${PATH}/Observation?page=2`),
        );
      }
      sendJson(res, 200, page([{ id: 'o2' }]));
    });
    const { client } = setup();
    const all = await client.searchAll(
      testTarget(server.origin + PATH),
      'Observation',
      { patient: 'p1' },
      opts,
    );
    expect(all.map((r) => r.id)).toEqual(['o1', 'o2']);
    expect(server.received[1]?.url).toBe(`${PATH}/Observation?page=2`);
    expect(other.received).toEqual([]);
  });

  it('stops on a page without entry and without next, whatever the total says', async () => {
    const server = await serve((_req, res) =>
      sendJson(res, 200, { resourceType: 'Bundle', type: 'searchset', total: 50 }),
    );
    const { client } = setup();
    const all = await client.searchAll(
      testTarget(server.origin + PATH),
      'CareTeam',
      { patient: 'p1', status: 'active' },
      opts,
    );
    expect(all).toEqual([]);
    expect(server.received).toHaveLength(1);
  });

  it('goes on past an empty page that still has a next link', async () => {
    const server = await serve((req, res) => {
      if (req.url === `${PATH}/Condition?patient=p1`) {
        return sendJson(
          res,
          200,
          page([], `http://fhir4.eclinicalworks.com${PATH}?_getpages=x`, 0),
        );
      }
      sendJson(res, 200, page([{ id: 'c1' }]));
    });
    const { client } = setup();
    const all = await client.searchAll(
      testTarget(server.origin + PATH),
      'Condition',
      { patient: 'p1' },
      opts,
    );
    expect(all.map((r) => r.id)).toEqual(['c1']);
  });

  it('stops with an error when a next link loops', async () => {
    const server = await serve((_req, res) =>
      sendJson(
        res,
        200,
        page([{ id: 'o1' }], `http://fhir4.eclinicalworks.com${PATH}?_getpages=same`),
      ),
    );
    const { client } = setup();
    const error = await failure(
      client.searchAll(testTarget(server.origin + PATH), 'Observation', { patient: 'p1' }, opts),
    );
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('loops');
    expect(server.received).toHaveLength(2);
  });

  it('leaves search.mode outcome entries out of searchAll', async () => {
    const server = await serve((_req, res) =>
      sendJson(res, 200, {
        resourceType: 'Bundle',
        entry: [
          { resource: { resourceType: 'Goal', id: 'g1' }, search: { mode: 'match' } },
          { resource: outcome('partial results'), search: { mode: 'outcome' } },
        ],
      }),
    );
    const { client } = setup();
    const all = await client.searchAll(
      testTarget(server.origin + PATH, { profile: genericProfile }),
      'Goal',
      new URLSearchParams({ patient: 'p1' }),
      opts,
    );
    expect(all.map((r) => r.id)).toEqual(['g1']);
  });
});

describe('retries and failures', () => {
  it('retries a 5xx with jittered exponential backoff, then succeeds', async () => {
    const server = await serve((_req, res, i) => {
      if (i < 2) return sendJson(res, 503, outcome('busy'));
      sendJson(res, 200, { resourceType: 'Patient', id: 'p1' });
    });
    const { client, budget, delays } = setup();
    const patient = await client.read(testTarget(server.origin + PATH), 'Patient', 'p1', opts);
    expect(patient.id).toBe('p1');
    // random 0.5: half of 500·2^(n-1) fixed + a quarter of it jittered.
    expect(delays).toEqual([375, 750]);
    expect(budget.acquired).toHaveLength(3);
  });

  it('gives up after the retries with the OperationOutcome in the error', async () => {
    const server = await serve((_req, res) => sendJson(res, 500, outcome('database went away')));
    const { client, budget } = setup({ retries: 2 });
    const error = await failure(
      client.read(testTarget(server.origin + PATH), 'Patient', 'p1', opts),
    );
    expect(error.code).toBe('upstream_error');
    expect(error.status).toBe(500);
    expect(error.message).toContain('database went away');
    expect(server.received).toHaveLength(3);
    expect(budget.acquired).toHaveLength(3);
  });

  it('does not retry a 400 and carries its diagnostics', async () => {
    const text = 'Does not know how to handle get operation with parameter [patient,_count]';
    const server = await serve((_req, res) =>
      sendJson(res, 400, outcome(text), { 'content-type': 'application/json+fhir;charset=UTF-8' }),
    );
    const { client, delays } = setup();
    const error = await failure(
      client.searchAll(
        testTarget(server.origin + PATH, { profile: genericProfile }),
        'Observation',
        { patient: 'p1' },
        opts,
      ),
    );
    expect(error.code).toBe('upstream_error');
    expect(error.status).toBe(400);
    expect(error.message).toContain(text);
    expect(error.message).toContain('Observation?patient=p1');
    expect(error.details?.outcome).toMatchObject({ resourceType: 'OperationOutcome' });
    expect(server.received).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('retries network failures, then reports them', async () => {
    const closed = await startServer(() => {});
    const origin = closed.origin;
    await closed.close();
    const { client, budget, delays } = setup({ retries: 1 });
    const error = await failure(client.readJson(testTarget(origin + PATH), 'metadata', opts));
    expect(error.code).toBe('upstream_error');
    expect(error.details?.timeout).toBe(false);
    expect(budget.acquired).toHaveLength(2);
    // No answer: the calls keep the next window's slot.
    expect(budget.answers).toEqual([]);
    expect(delays).toHaveLength(1);
  });

  it('times out a hanging server (retried like any network failure)', async () => {
    const server = await serve(() => {
      // never answers
    });
    const { client, budget } = setup({ timeoutMs: 50, retries: 1 });
    const error = await failure(
      client.readJson(testTarget(server.origin + PATH), 'metadata', opts),
    );
    expect(error.code).toBe('upstream_error');
    expect(error.status).toBe(504);
    expect(error.details?.timeout).toBe(true);
    expect(budget.acquired).toHaveLength(2);
  });

  it('a caller abort is not retried', async () => {
    const server = await serve(() => {});
    const { client, budget } = setup();
    const controller = new AbortController();
    const pending = client.readJson(testTarget(server.origin + PATH), 'metadata', {
      ...opts,
      signal: controller.signal,
    });
    controller.abort(new Error('caller gone'));
    await expect(pending).rejects.toThrow('caller gone');
    expect(budget.acquired.length).toBeLessThanOrEqual(1);
  });

  it('stops backing off when the deadline would pass', async () => {
    const server = await serve((_req, res) => sendJson(res, 502, outcome('bad gateway')));
    const { client, clock, delays } = setup();
    const error = await failure(
      client.readJson(testTarget(server.origin + PATH), 'metadata', {
        ...opts,
        deadline: clock.now() + 100,
      }),
    );
    expect(error.status).toBe(502);
    expect(delays).toEqual([]);
    expect(server.received).toHaveLength(1);
  });
});

describe('authorization', () => {
  it('refreshes once on 401 and retries with the new token', async () => {
    const server = await serve((req, res) => {
      if (req.headers.authorization !== 'Bearer at-secret-2')
        return sendJson(res, 401, outcome('expired'));
      sendJson(res, 200, { resourceType: 'Patient', id: 'p1' });
    });
    const { client, budget } = setup();
    const target = testTarget(server.origin + PATH);
    await client.read(target, 'Patient', 'p1', opts);
    expect(target.tokenState.refreshes).toBe(1);
    expect(server.received.map((r) => r.authorization)).toEqual([
      'Bearer at-secret-1',
      'Bearer at-secret-2',
    ]);
    expect(budget.acquired).toHaveLength(2);
  });

  it('a second 401 is final', async () => {
    const server = await serve((_req, res) => sendJson(res, 401, outcome('invalid token')));
    const { client } = setup();
    const target = testTarget(server.origin + PATH);
    const error = await failure(client.read(target, 'Patient', 'p1', opts));
    expect(error.code).toBe('unauthorized');
    expect(target.tokenState.refreshes).toBe(1);
    expect(server.received).toHaveLength(2);
    expect(error.message).not.toContain('at-secret');
  });

  it('403 is a scope error with the server explanation', async () => {
    const server = await serve((_req, res) =>
      sendJson(res, 403, outcome('scope patient/Observation.read not granted')),
    );
    const { client } = setup();
    const error = await failure(
      client.read(testTarget(server.origin + PATH), 'Observation', 'o1', opts),
    );
    expect(error.code).toBe('scope_denied');
    expect(error.message).toContain('patient/Observation.read not granted');
    expect(error.message).not.toContain('at-secret');
    expect(server.received).toHaveLength(1);
  });

  it('404 is not_found', async () => {
    const server = await serve((_req, res) =>
      sendJson(res, 404, outcome('Resource Patient/x is not known')),
    );
    const { client } = setup();
    const error = await failure(
      client.read(testTarget(server.origin + PATH), 'Patient', 'x', opts),
    );
    expect(error.code).toBe('not_found');
    expect(error.message).toContain('is not known');
  });

  it('refuses an http base unless allowed, before spending a call', async () => {
    const { client, budget } = setup();
    const target = testTarget('http://127.0.0.1:9/fhir', { allowHttp: false });
    expect((await failure(client.readJson(target, 'metadata', opts))).code).toBe(
      'host_not_allowed',
    );
    expect(budget.acquired).toEqual([]);
  });
});

describe('redirects', () => {
  it('follows a redirect that stays under the base, spending a call for it', async () => {
    const server = await serve((req, res) => {
      if (req.url === `${PATH}/Patient/old`) {
        res.writeHead(301, { location: `${PATH}/Patient/new` });
        return res.end();
      }
      sendJson(res, 200, { resourceType: 'Patient', id: 'new' });
    });
    const { client, budget } = setup();
    const patient = await client.read(testTarget(server.origin + PATH), 'Patient', 'old', opts);
    expect(patient.id).toBe('new');
    expect(server.received.map((r) => r.authorization)).toEqual(
      Array(2).fill('Bearer at-secret-1'),
    );
    expect(budget.acquired).toHaveLength(2);
  });
});

describe('upstream 429', () => {
  it('reports Retry-After seconds to the budget, then waits for it again and retries', async () => {
    const server = await serve((_req, res, i) => {
      if (i === 0) return sendJson(res, 429, outcome('too many'), { 'retry-after': '7' });
      sendJson(res, 200, { resourceType: 'Patient', id: 'p1' });
    });
    const { client, budget, delays } = setup();
    const target = testTarget(server.origin + PATH);
    await client.read(target, 'Patient', 'p1', opts);
    expect(budget.rateLimited).toEqual([
      { practice: target.practiceKey, info: { retryAfterMs: 7000 } },
    ]);
    expect(budget.acquired).toHaveLength(2);
    // The wait is the budget's lock, not a sleep of the client's own.
    expect(delays).toEqual([]);
  });

  it('reads an HTTP-date Retry-After against the injected clock, and none at all', async () => {
    const server = await serve((_req, res, i) => {
      if (i === 0)
        return sendJson(res, 429, outcome('x'), { 'retry-after': 'Thu, 01 Jan 2026 12:00:30 GMT' });
      if (i === 1) return sendJson(res, 429, outcome('x'));
      sendJson(res, 200, { resourceType: 'Patient', id: 'p1' });
    });
    const { client, budget } = setup();
    await client.read(testTarget(server.origin + PATH), 'Patient', 'p1', opts);
    expect(budget.rateLimited.map((r) => r.info)).toEqual([{ retryAfterMs: 30_000 }, {}]);
    expect(budget.acquired).toHaveLength(3);
  });

  it('gives up with rate_limited after too many 429s', async () => {
    const server = await serve((_req, res) => sendJson(res, 429, outcome('locked')));
    const { client, budget } = setup({ rateLimitRetries: 2 });
    const error = await failure(
      client.read(testTarget(server.origin + PATH), 'Patient', 'p1', opts),
    );
    expect(error.code).toBe('rate_limited');
    expect(budget.rateLimited).toHaveLength(2);
    expect(budget.acquired).toHaveLength(3);
  });
});

describe('forward (the API proxy)', () => {
  it('resolves with a 4xx, its OperationOutcome unread, after one call', async () => {
    const server = await serve((_req, res) => sendJson(res, 400, outcome('no such parameter set')));
    const { client } = setup();
    const res = await client.forward(testTarget(server.origin + PATH), 'Observation?foo=bar', opts);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(outcome('no such parameter set'));
    expect(server.received).toHaveLength(1);
  });

  it('still refreshes once on 401, and hands back a second 401', async () => {
    const server = await serve((_req, res) => sendJson(res, 401, outcome('token expired')));
    const { client } = setup();
    const target = testTarget(server.origin + PATH);
    const res = await client.forward(target, 'Patient/p1', opts);
    expect(res.status).toBe(401);
    expect(target.tokenState.refreshes).toBe(1);
    expect(server.received.map((r) => r.authorization)).toEqual([
      'Bearer at-secret-1',
      'Bearer at-secret-2',
    ]);
  });

  it('still fails a 429 with rate_limited and a 5xx with upstream_error', async () => {
    const limited = await serve((_req, res) => sendJson(res, 429, outcome('locked')));
    const { client } = setup({ rateLimitRetries: 1, retries: 1 });
    const rateLimited = await failure(
      client.forward(testTarget(limited.origin + PATH), 'Patient/p1', opts),
    );
    expect(rateLimited.code).toBe('rate_limited');
    const broken = await serve((_req, res) => sendJson(res, 500, outcome('boom')));
    const failed = await failure(
      client.forward(testTarget(broken.origin + PATH), 'Patient/p1', opts),
    );
    expect(failed.code).toBe('upstream_error');
    expect(failed.status).toBe(500);
  });
});

describe('timeouts against a deadline', () => {
  it('an attempt waits no longer than the deadline allows', async () => {
    const server = await serve(() => {
      // never answers
    });
    const { client, clock } = setup({ timeoutMs: 5_000 });
    const started = performance.now();
    const error = await failure(
      client.readJson(testTarget(server.origin + PATH), 'metadata', {
        ...opts,
        deadline: clock.now() + 50,
      }),
    );
    expect(error.status).toBe(504);
    expect(error.message).toBe('GET metadata: no answer within 50 ms');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('retryTimeouts: false makes one timeout the answer', async () => {
    const server = await serve(() => {});
    // Long enough for the request to reach the server on a loaded machine: the test counts calls.
    const { client, delays } = setup({ timeoutMs: 1_000, retries: 3 });
    const error = await failure(
      client.readJson(testTarget(server.origin + PATH), 'metadata', {
        ...opts,
        retryTimeouts: false,
      }),
    );
    expect(error.details?.timeout).toBe(true);
    expect(server.received).toHaveLength(1);
    expect(delays).toEqual([]);
  });
});
