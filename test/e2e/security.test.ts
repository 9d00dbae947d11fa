// The bridge as an attacker meets it, over real HTTP against the simulator on a real SQLite file:
// forged, replayed and expired sign-in states; id_tokens forged, expired, for another audience or
// with another nonce; open redirects through returnTo; server-side requests steered through a
// practice base, a `next` link, an attachment URL and a directory import; another app's
// connection; oversized and malformed bodies; a launch link opened 300 times; 200 sign-ins from
// one address. Each is refused clearly (a 4xx; a 502 where the EHR's answer or an upstream is at
// fault) and changes nothing. Last, every secret the suite saw issued
// (tokens, codes, states, PKCE verifiers, assertions, API keys, the client and webhook secrets,
// a private key) is searched for in every log line, answer, file and webhook of the suite.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { decodeJwt, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/access/api-keys.ts';
import { sandboxDefaults } from '../../src/cli/setup.ts';
import { createLogger } from '../../src/common/logger.ts';
import { generateTestKey, type TestKey } from '../../src/smart/signer.test-helper.ts';
import { type ChaosStack, startChaosStack } from './helpers/chaos-stack.ts';
import { connectPatient } from './helpers/connect.ts';
import { freePort } from './helpers/stack.ts';

const CLIENT_SECRET = `cs-${randomBytes(24).toString('hex')}`;
const WEBHOOK_SECRET = `whsec_${randomBytes(32).toString('base64')}`;

let s: ChaosStack;
/** Every secret issued during the suite, with what it is. */
const secrets = new Map<string, string>();
const logLines: string[] = [];
/** Every answer the bridge gave the suite: where, and its headers and body. */
const answers: Array<{ where: string; text: string }> = [];
const webhookBodies: string[] = [];
/** Requests that reached the canary: a server nothing should ever call. */
const canaryHits: string[] = [];
/** Every URL the bridge fetched upstream. */
const upstreamUrls: string[] = [];
let canary: Server;
let canaryUrl: string;
let hangUp: Server;
let hangUpUrl: string;
let webhookServer: Server;
/** How the next token answer of an authorization_code grant is tampered with, if at all. */
let tamper: ((claims: Record<string, unknown>) => Promise<string>) | undefined;
/** Rewrites the next searchset's `next` link to this URL, if set. */
let nextLinkOverride: string | undefined;
let appKeyB: string;
let connected: { connectionId: string; patient: string };

const secret = (value: string | undefined | null, what: string) => {
  if (value && value.length >= 8) secrets.set(value, what);
};

async function listen(handler: (req: IncomingMessage, body: string) => void, answer?: string) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      handler(req, body);
      if (answer === 'hang up') req.socket.destroy();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(answer ?? '{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return { server, url: `http://127.0.0.1:${typeof address === 'object' && address?.port}` };
}

/** The bridge's upstream fetch: records what goes out, harvests the secrets, tampers on request. */
const watchingFetch: typeof fetch = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  upstreamUrls.push(url);
  const body = init?.body;
  if (body instanceof URLSearchParams || typeof body === 'string') {
    const form = new URLSearchParams(String(body));
    for (const name of ['code', 'code_verifier', 'refresh_token', 'client_assertion'])
      secret(form.get(name), `sent ${name}`);
  }
  const response = await fetch(input, init);
  if (url.endsWith('/oauth/oauth2/token') && response.ok) {
    const tokens = (await response.clone().json()) as Record<string, string>;
    secret(tokens.access_token, 'access_token');
    secret(tokens.refresh_token, 'refresh_token');
    secret(tokens.id_token, 'id_token');
    if (tamper && tokens.id_token) {
      const forged = await tamper(decodeJwt(tokens.id_token));
      tamper = undefined;
      return Response.json({ ...tokens, id_token: forged }, { headers: response.headers });
    }
  }
  if (nextLinkOverride && url.includes('/fhir/') && response.ok) {
    const text = await response.clone().text();
    if (text.includes('"searchset"')) {
      const bundle = JSON.parse(text) as { link?: Array<{ relation: string; url: string }> };
      bundle.link = [
        ...(bundle.link ?? []).filter((l) => l.relation !== 'next'),
        { relation: 'next', url: nextLinkOverride },
      ];
      nextLinkOverride = undefined;
      return Response.json(bundle, { headers: response.headers });
    }
  }
  return response;
};

/** A call to the bridge whose answer is kept for the final search. */
async function call(
  path: string,
  init: RequestInit & { key?: string | null; cookie?: string } = {},
): Promise<Response> {
  const { key = s.apiKey, cookie, ...rest } = init;
  const headers: Record<string, string> = { ...(rest.headers as Record<string, string>) };
  if (key) headers.authorization = `Bearer ${key}`;
  if (cookie) headers.cookie = cookie;
  if (typeof rest.body === 'string' && !headers['content-type'])
    headers['content-type'] = 'application/json';
  const response = await fetch(path.startsWith('http') ? path : `${s.url}${path}`, {
    redirect: 'manual',
    ...rest,
    headers,
  });
  const headerLines: string[] = [];
  response.headers.forEach((value, name) => {
    headerLines.push(`${name}: ${value}`);
  });
  answers.push({
    where: `${rest.method ?? 'GET'} ${path.split('?')[0]}`,
    text: `${headerLines.join('\n')}\n\n${await response.clone().text()}`,
  });
  return response;
}

/** Counts of rows that an attempt must not change. */
async function rows() {
  const connections = await s.runtime.store.connections.list({ limit: 10_000 });
  return {
    connections: connections.length,
    active: connections.filter((c) => c.state === 'active').length,
  };
}

/**
 * The sign-in up to the EHR's redirect back: our launch link, the simulator's login and consent
 * pages. Returns the callback URL (with code and state) and the browser cookie.
 */
async function signInUntilCallback(
  userRef: string,
  body: Record<string, unknown> = {},
): Promise<{ id: string; callback: string; cookie: string; state: string }> {
  const created = await call('/api/connections', {
    method: 'POST',
    body: JSON.stringify({ practice: 'JAFJCD', userRef, ...body }),
  });
  expect(created.status).toBe(201);
  const { id, authorizeUrl } = (await created.json()) as { id: string; authorizeUrl: string };
  const state = authorizeUrl.split('/launch/')[1] ?? '';
  secret(state, 'state');
  const launch = await call(authorizeUrl, { key: null });
  const cookie = (launch.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const ehr = launch.headers.get('location') ?? '';
  secret(new URL(ehr).searchParams.get('state'), 'state');
  const login = await (await fetch(ehr)).text();
  const requestId = /name="request_id" value="([^"]*)"/.exec(login)?.[1] ?? '';
  const origin = new URL(ehr).origin;
  const consent = await (
    await fetch(`${origin}/oauth/oauth2/login`, {
      method: 'POST',
      body: new URLSearchParams({
        request_id: requestId,
        username: 'AdultMaleFHIR',
        password: 'e@CWFHIR1',
      }),
    })
  ).text();
  const form = new URLSearchParams({ request_id: requestId, decision: 'allow' });
  for (const m of consent.matchAll(/name="scope" value="([^"]*)"/g)) form.append('scope', m[1]!);
  const back = await fetch(`${origin}/oauth/oauth2/consent`, {
    method: 'POST',
    body: form,
    redirect: 'manual',
  });
  const callback = back.headers.get('location') ?? '';
  secret(new URL(callback).searchParams.get('code'), 'code');
  return { id, callback, cookie, state };
}

beforeAll(async () => {
  ({ server: canary, url: canaryUrl } = await listen((req) => canaryHits.push(req.url ?? '')));
  ({ server: hangUp, url: hangUpUrl } = await listen(() => {}, 'hang up'));
  let webhookUrl: string;
  ({ server: webhookServer, url: webhookUrl } = await listen((_req, body) =>
    webhookBodies.push(body),
  ));
  const logSink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  s = await startChaosStack({
    logger: createLogger({ level: 'trace', destination: logSink }),
    fetch: watchingFetch,
    config: {
      sync: { onConnect: false, intervalMs: 0 },
      webhooks: [{ url: `${webhookUrl}/hooks`, secret: WEBHOOK_SECRET }],
      webhookDelivery: { pollIntervalMs: 50 },
      registrations: {
        ...sandboxDefaults('http://unused').registrations,
        symmetric: {
          environment: 'sandbox',
          clientId: 'sim-symmetric',
          clientType: 'confidential-symmetric',
          clientSecret: CLIENT_SECRET,
        },
      },
    },
  });
  secret(s.apiKey, 'admin API key');
  secret(CLIENT_SECRET, 'client secret');
  secret(WEBHOOK_SECRET, 'webhook secret');
  appKeyB = (await createApiKey(s.runtime.store, s.runtime.clock, 'app-b', 'app')).secret;
  secret(appKeyB, 'app API key');
  // A private key imported from a PEM file outside the data folder.
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  const pemFile = join(mkdtempSync(join(tmpdir(), 'fhirbridge-pem-')), 'key.pem');
  writeFileSync(pemFile, pem, { mode: 0o600 });
  await s.runtime.keys.importPem('sandbox', pemFile);
  for (const line of pem.split('\n').slice(1, -2)) secret(line, 'private key (PEM line)');

  const { connectionId } = await connectPatient(
    { ...s, api: (path, init) => call(path, init ?? {}) },
    { userRef: 'patient-1' },
  );
  const view = (await (await call(`/api/connections/${connectionId}`)).json()) as {
    patient: string;
  };
  connected = { connectionId, patient: view.patient };
}, 60_000);

afterAll(async () => {
  await s?.close();
  for (const server of [canary, hangUp, webhookServer]) server?.close();
});

describe('sign-in state', () => {
  it('a forged state is a 400 that connects nothing', async () => {
    const before = await rows();
    const { cookie } = await signInUntilCallback('forged-state');
    const forged = await call(`/callback?code=abc&state=${randomBytes(32).toString('base64url')}`, {
      key: null,
      cookie,
    });
    expect(forged.status).toBe(400);
    expect((await rows()).active).toBe(before.active);
  });

  it('a replayed callback is refused and leaves the connection as the first one made it', async () => {
    const { id, callback, cookie } = await signInUntilCallback('replayed-state');
    const first = await call(callback, { key: null, cookie });
    expect(first.status).toBe(302);
    const record = await s.runtime.store.connections.get(id);
    const replay = await call(callback, { key: null, cookie });
    expect(replay.status).toBe(400);
    expect(await s.runtime.store.connections.get(id)).toEqual(record);
  });

  it('a state past its ten minutes is refused and the connection stays pending', async () => {
    const { id, callback, cookie } = await signInUntilCallback('expired-state');
    s.clock.shift(10 * 60_000 + 1_000);
    const late = await call(callback, { key: null, cookie });
    expect(late.status).toBe(400);
    expect((await s.runtime.store.connections.get(id))?.state).toBe('pending');
  });

  it('a callback from another browser than the one bound to the state is refused', async () => {
    const { id, callback } = await signInUntilCallback('other-browser');
    const stolen = await call(callback, { key: null, cookie: 'fb_browser=someone-else' });
    expect(stolen.status).toBe(400);
    expect((await s.runtime.store.connections.get(id))?.state).toBe('pending');
  });
});

describe('id_token', () => {
  let stranger: TestKey;
  beforeAll(async () => {
    stranger = await generateTestKey(`stranger-${randomBytes(4).toString('hex')}`, 'RS256');
  });
  const nowS = () => Math.floor((Date.now() + s.offsetMs()) / 1000);
  /** Signed by the EHR's own key (the simulator's), so only the claim named is wrong. */
  const byTheEhr = (claims: Record<string, unknown>) => s.sim.keys.sign(claims);

  const cases: Array<[string, (claims: Record<string, unknown>) => Promise<string>, RegExp]> = [
    [
      'signed by a key the EHR does not publish',
      (claims) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: 'RS256', kid: stranger.kid, typ: 'JWT' })
          .sign(stranger.privateKey),
      /no key in the JWKS matches/,
    ],
    ['expired', (c) => byTheEhr({ ...c, iat: nowS() - 7_200, exp: nowS() - 3_600 }), /exp/],
    ['for another audience', (c) => byTheEhr({ ...c, aud: 'someone-else' }), /aud/],
    ['with another nonce', (c) => byTheEhr({ ...c, nonce: 'not-the-one-we-sent' }), /nonce/],
  ];
  for (const [what, forge, reason] of cases) {
    it(`an id_token ${what} fails the sign-in, keeps why under the reference the page shows, and keeps no tokens`, async () => {
      const { id, callback, cookie } = await signInUntilCallback(`id-token-${what}`);
      tamper = forge;
      const answer = await call(callback, { key: null, cookie });
      tamper = undefined;
      // The EHR's answer is what is wrong, not the browser's request: a bad-gateway page.
      expect(answer.status).toBe(502);
      // The page gives the patient a reference, not the reason; the reason is kept under it.
      const body = await answer.text();
      const reference = /data-reference>([2-9A-Z]{4}-[2-9A-Z]{4})</.exec(body)?.[1];
      const events = await s.runtime.store.events.list({ limit: 1000 });
      const kept = events.find(
        (e) => e.type === 'web.page_error' && e.data.reference === reference,
      );
      expect(String(kept?.data.detail)).toMatch(reason);
      expect(body).not.toContain(String(kept?.data.detail));
      const record = await s.runtime.store.connections.get(id);
      expect(record?.state).toBe('pending');
      expect(record?.sealedTokens ?? null).toBeNull();
    });
  }
});

describe('returnTo', () => {
  const attempts = [
    'https://evil.example/steal',
    '//evil.example/steal',
    'https://evil.example@127.0.0.1/',
    'javascript:alert(1)',
    '/\\evil.example',
    'http://127.0.0.1.evil.example/',
  ];
  for (const returnTo of attempts) {
    it(`returnTo ${returnTo} is a 400 that creates no connection`, async () => {
      const before = await rows();
      const answer = await call('/api/connections', {
        method: 'POST',
        body: JSON.stringify({ practice: 'JAFJCD', userRef: 'redirect', returnTo }),
      });
      expect(answer.status).toBe(400);
      expect(await rows()).toEqual(before);
    });
  }
});

describe('requests steered elsewhere', () => {
  it('a practice base on a link-local or private address is refused', async () => {
    for (const base of ['http://169.254.169.254/fhir/r4/X', 'http://10.1.2.3/fhir/r4/X']) {
      const answer = await call('/api/practices', {
        method: 'POST',
        body: JSON.stringify({
          id: 'metadata',
          name: 'Metadata',
          base,
          vendor: 'healow',
          registration: 'sandbox',
        }),
      });
      expect(answer.status, base).toBe(400);
    }
    expect((await call('/api/practices/metadata')).status).toBe(404);
    expect(upstreamUrls.filter((u) => /169\.254|10\.1\.2\.3/.test(u))).toEqual([]);
  });

  it('a `next` link to another origin is not followed', async () => {
    nextLinkOverride = `${canaryUrl}/next-page`;
    const answer = await call(
      `/api/connections/${connected.connectionId}/fhir/Condition?patient=${connected.patient}`,
    );
    nextLinkOverride = undefined;
    // The page naming it is refused whole: an EHR answer pointing elsewhere is a bad gateway.
    expect(answer.status).toBe(502);
    const outcome = (await answer.json()) as { issue: Array<{ details: { text: string } }> };
    expect(outcome.issue[0]?.details.text).toBe('host_not_allowed');
    expect(canaryHits).toEqual([]);
    expect(upstreamUrls.filter((u) => u.startsWith(canaryUrl))).toEqual([]);
  });

  it('an attachment URL on another origin is never fetched by a sync', async () => {
    const added = await s.admin('/data/JAFJCD/AdultMaleFHIR/resources', {
      method: 'POST',
      body: JSON.stringify({
        resourceType: 'DocumentReference',
        status: 'current',
        subject: { reference: `Patient/${connected.patient}` },
        content: [{ attachment: { contentType: 'application/pdf', url: `${canaryUrl}/leak.pdf` } }],
      }),
    });
    expect(added.status).toBe(201);
    const sync = await call(`/api/connections/${connected.connectionId}/sync`, {
      method: 'POST',
      body: '{}',
    });
    expect(sync.status).toBeLessThan(300);
    for (let i = 0; i < 300; i++) {
      const [job] = await s.runtime.jobs.list({ connectionId: connected.connectionId, limit: 1 });
      if (job && ['succeeded', 'failed'].includes(job.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(canaryHits).toEqual([]);
    expect(upstreamUrls.filter((u) => u.startsWith(canaryUrl))).toEqual([]);
  });

  it('a directory import from a closed port and from one that hangs up fail alike, saying neither', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/dir`;
    const urls = [closed, `${hangUpUrl}/dir`];
    const messages = [];
    for (const url of urls) {
      const answer = await call('/api/practices/import', {
        method: 'POST',
        body: JSON.stringify({ url }),
      });
      expect(answer.status, url).toBe(502);
      messages.push(((await answer.json()) as { error: { message: string } }).error.message);
    }
    expect(messages).toEqual(urls.map((u) => `directory URL ${u} is unreachable or refused`));
  });
});

describe('another app', () => {
  it('an app key finds another app’s connection nowhere: 404 on every route', async () => {
    const id = connected.connectionId;
    for (const [method, path] of [
      ['GET', `/api/connections/${id}`],
      ['GET', `/api/connections/${id}/fhir/Patient/${connected.patient}`],
      ['GET', `/api/connections/${id}/resources/Condition`],
      ['GET', `/api/connections/${id}/export`],
      ['POST', `/api/connections/${id}/refresh`],
      ['POST', `/api/connections/${id}/sync`],
      ['DELETE', `/api/connections/${id}`],
    ] as const) {
      const answer = await call(path, {
        method,
        key: appKeyB,
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      expect(answer.status, `${method} ${path}`).toBe(404);
    }
    expect((await s.runtime.store.connections.get(id))?.state).toBe('active');
  });
});

describe('bodies', () => {
  it('an oversized body is a 413 and a malformed one a 400; neither creates a row', async () => {
    const before = await rows();
    const huge = JSON.stringify({ practice: 'JAFJCD', userRef: 'x'.repeat(2_000_000) });
    expect((await call('/api/connections', { method: 'POST', body: huge })).status).toBe(413);
    for (const body of ['{', '[]', '"x"', '{"practice":{"$ne":1},"userRef":"u"}']) {
      expect((await call('/api/connections', { method: 'POST', body })).status, body).toBe(400);
    }
    const form = await call('/connect', {
      method: 'POST',
      key: null,
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: s.url },
      body: `practice=${'J'.repeat(2_000_000)}`,
    });
    expect(form.status).toBe(413);
    expect(await rows()).toEqual(before);
  });
});

describe('floods', () => {
  it('a launch link opened 300 times spends the practice budget once, and reads still work', async () => {
    const created = await call('/api/connections', {
      method: 'POST',
      body: JSON.stringify({ practice: 'JAFJCD', userRef: 'drain' }),
    });
    const { authorizeUrl } = (await created.json()) as { authorizeUrl: string };
    const statuses: Record<number, number> = {};
    for (let i = 0; i < 300; i++) {
      const answer = await fetch(authorizeUrl, { redirect: 'manual' });
      await answer.arrayBuffer();
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
    }
    // The first opener is sent to the EHR; the rest are turned away.
    expect(statuses[302]).toBe(1);
    expect(Object.keys(statuses).every((st) => st === '302' || (+st >= 400 && +st < 500))).toBe(
      true,
    );
    const read = await call(
      `/api/connections/${connected.connectionId}/fhir/Patient/${connected.patient}`,
    );
    expect(read.status).toBe(200);
  });

  it('200 sign-ins from one address stop at the limit with 429s', async () => {
    const before = await rows();
    const statuses: Record<number, number> = {};
    for (let i = 0; i < 200; i++) {
      const answer = await fetch(`${s.url}/connect`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: s.url },
        body: 'practice=JAFJCD',
      });
      await answer.arrayBuffer();
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
    }
    const limit = s.runtime.config.signIn.perAddress.limit;
    expect(statuses[303]).toBeLessThanOrEqual(limit);
    expect(statuses[429]).toBe(200 - (statuses[303] ?? 0));
    expect((await rows()).connections - before.connections).toBeLessThanOrEqual(limit);
  });
});

describe('secrets', () => {
  it('no issued secret is in a log line, an answer, a file or a webhook', async () => {
    // Webhooks of the suite's events, delivered.
    for (let i = 0; i < 100 && webhookBodies.length === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    const kinds = new Set(secrets.values());
    for (const kind of [
      'access_token',
      'refresh_token',
      'code',
      'sent code_verifier',
      'state',
      'admin API key',
      'app API key',
      'client secret',
      'webhook secret',
      'private key (PEM line)',
      'sent client_assertion',
    ])
      expect(kinds, kind).toContain(kind);
    expect(logLines.length).toBeGreaterThan(0);
    expect(webhookBodies.length).toBeGreaterThan(0);

    const files: Array<{ where: string; text: string }> = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name !== 'master.key')
          files.push({ where: path, text: readFileSync(path, 'latin1') });
      }
    };
    walk(s.dataDir);
    const places = [
      ...logLines.map((text, i) => ({ where: `log line ${i}`, text })),
      ...answers,
      ...files,
      ...webhookBodies.map((text, i) => ({ where: `webhook ${i}`, text })),
    ];
    const found: string[] = [];
    for (const [value, what] of secrets) {
      for (const place of places) {
        // The launch link is the state's one way to the app, and the redirect to the EHR its way on.
        const carriesState = /^(POST \/api\/connections$|GET http.*\/launch\/)/.test(place.where);
        if (what.startsWith('state') && carriesState) continue;
        if (place.text.includes(value) || place.text.includes(encodeURIComponent(value)))
          found.push(`${what} in ${place.where}`);
      }
    }
    expect(found).toEqual([]);
  });
});
