import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type JWK,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeCode,
  startTestSimulator,
  type TestSimulator,
  tokenRequest,
} from '../simulator.test-helper.ts';

const REDIRECT = 'http://127.0.0.1:9999/callback';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface ClientKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function clientKey(alg: 'RS384' | 'ES384' = 'RS384'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, jwk: { ...jwk, kid, alg, use: 'sig' } };
}

/** A client's JWKS host: serves whatever `keys` holds and counts fetches. */
async function jwksHost(): Promise<{
  url: string;
  keys: JWK[];
  fetches: number;
  server: Server;
  down: boolean;
}> {
  const host = { url: '', keys: [] as JWK[], fetches: 0, server: createServer(), down: false };
  host.server.on('request', (_req, res) => {
    host.fetches += 1;
    if (host.down) {
      res.writeHead(503).end();
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ keys: host.keys }));
  });
  await new Promise<void>((resolve) => host.server.listen(0, '127.0.0.1', resolve));
  const address = host.server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  host.url = `http://127.0.0.1:${address.port}/jwks.json`;
  return host;
}

describe('private_key_jwt client authentication', () => {
  let sim: TestSimulator;
  let host: Awaited<ReturnType<typeof jwksHost>>;
  let key: ClientKey;

  beforeAll(async () => {
    host = await jwksHost();
    key = await clientKey();
    host.keys = [key.jwk];
    sim = await startTestSimulator({
      registrations: [
        {
          clientId: 'asym',
          type: 'confidential-asymmetric',
          jwksUrl: host.url,
          redirectUris: [REDIRECT],
          appName: 'Asym',
        },
      ],
    });
  });
  afterAll(async () => {
    await sim.close();
    await new Promise((resolve) => host.server.close(resolve));
  });

  interface AssertionOptions {
    key?: ClientKey;
    alg?: string;
    typ?: string | null;
    kid?: string | null;
    iss?: string;
    sub?: string;
    aud?: string | string[];
    expIn?: number;
    jti?: string;
    jku?: string;
  }
  const assertion = (o: AssertionOptions = {}) => {
    const k = o.key ?? key;
    const now = Math.floor(sim.clock.now() / 1000);
    const header: Record<string, string> = { alg: o.alg ?? 'RS384' };
    if (o.typ !== null) header.typ = o.typ ?? 'JWT';
    if (o.kid !== null) header.kid = o.kid ?? k.kid;
    if (o.jku) header.jku = o.jku;
    return new SignJWT({})
      .setProtectedHeader(header as { alg: string })
      .setIssuer(o.iss ?? 'asym')
      .setSubject(o.sub ?? 'asym')
      .setAudience(o.aud ?? `${sim.origin}/oauth/oauth2/token`)
      .setIssuedAt(now)
      .setExpirationTime(now + (o.expIn ?? 240))
      .setJti(o.jti ?? randomUUID())
      .sign(k.privateKey);
  };
  const exchange = async (clientAssertion: string) => {
    const { code, verifier } = await authorizeCode(sim, {
      clientId: 'asym',
      scope: 'openid fhirUser offline_access launch/patient patient/Patient.read',
    });
    return tokenRequest(sim.origin, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: clientAssertion,
    });
  };
  const refused = async (clientAssertion: string, reason: string) => {
    const before = (await (await sim.admin('GET', '/counters/JAFJCD')).json()).assertionFailures;
    const response = await exchange(clientAssertion);
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('invalid_client');
    const after = (await (await sim.admin('GET', '/counters/JAFJCD')).json()).assertionFailures;
    expect((after[reason] ?? 0) - (before[reason] ?? 0)).toBe(1);
  };

  it('accepts a valid RS384 assertion on the code exchange and on every refresh', async () => {
    const token = await exchange(await assertion());
    expect(token.status).toBe(200);
    expect(token.body.refresh_token).toBeDefined();
    const refreshed = await tokenRequest(sim.origin, {
      grant_type: 'refresh_token',
      refresh_token: String(token.body.refresh_token),
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await assertion(),
    });
    expect(refreshed.status).toBe(200);
    const bare = await tokenRequest(sim.origin, {
      grant_type: 'refresh_token',
      refresh_token: String(refreshed.body.refresh_token),
      client_id: 'asym',
    });
    expect(bare).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('accepts only RS384', async () => {
    const es = await clientKey('ES384');
    host.keys = [key.jwk, es.jwk];
    await refused(await assertion({ key: es, alg: 'ES384' }), 'alg');
    host.keys = [key.jwk];
  });

  it('requires typ JWT and a kid', async () => {
    await refused(await assertion({ typ: null }), 'typ');
    await refused(await assertion({ typ: 'at+jwt' }), 'typ');
    await refused(await assertion({ kid: null }), 'kid_missing');
  });

  it('refetches the JWKS once for an unknown kid', async () => {
    const added = await clientKey();
    host.keys = [key.jwk, added.jwk];
    const before = host.fetches;
    expect((await exchange(await assertion({ key: added }))).status).toBe(200);
    expect(host.fetches - before).toBe(1);
    // Cached now: no more fetches for either key.
    expect((await exchange(await assertion({ key: added }))).status).toBe(200);
    expect((await exchange(await assertion())).status).toBe(200);
    expect(host.fetches - before).toBe(1);
    // A kid nobody publishes: one refetch, then invalid_client.
    const stranger = await clientKey();
    await refused(await assertion({ key: stranger }), 'kid_unknown');
    expect(host.fetches - before).toBe(2);
  });

  it('refuses a bad signature, iss ≠ sub, a wrong aud', async () => {
    const stranger = await clientKey();
    await refused(await assertion({ key: { ...stranger, kid: key.kid } }), 'signature');
    await refused(await assertion({ sub: 'someone-else' }), 'iss_sub');
    await refused(await assertion({ aud: `${sim.origin}/oauth/oauth2/token/` }), 'aud');
    await refused(await assertion({ aud: sim.base() }), 'aud');
  });

  it('refuses an expired assertion and one valid more than 5 minutes', async () => {
    await refused(await assertion({ expIn: -30 }), 'expired');
    await refused(await assertion({ expIn: 600 }), 'exp_too_far');
  });

  it('refuses a replayed jti', async () => {
    const jti = randomUUID();
    expect((await exchange(await assertion({ jti }))).status).toBe(200);
    await refused(await assertion({ jti }), 'replay');
  });

  it('fetches only the registered URL, never a jku', async () => {
    const other = await jwksHost();
    const otherKey = await clientKey();
    other.keys = [otherKey.jwk];
    try {
      await refused(await assertion({ key: otherKey, jku: other.url }), 'kid_unknown');
      expect(other.fetches).toBe(0);
      // Re-registering with the new URL (the allow-list update) makes the same key good.
      await sim.admin('POST', '/registrations', {
        clientId: 'asym',
        type: 'confidential-asymmetric',
        jwksUrl: other.url,
        redirectUris: [REDIRECT],
        appName: 'Asym',
      });
      expect((await exchange(await assertion({ key: otherKey }))).status).toBe(200);
      expect(other.fetches).toBe(1);
    } finally {
      await sim.admin('POST', '/registrations', {
        clientId: 'asym',
        type: 'confidential-asymmetric',
        jwksUrl: host.url,
        redirectUris: [REDIRECT],
        appName: 'Asym',
      });
      await new Promise((resolve) => other.server.close(resolve));
    }
  });

  it('answers invalid_client when the JWKS is unreachable', async () => {
    const fresh = await clientKey();
    host.down = true;
    try {
      await refused(await assertion({ key: fresh }), 'jwks_unreachable');
    } finally {
      host.down = false;
    }
  });

  it('refuses a wrong client_assertion_type and a second authentication method', async () => {
    const { code, verifier } = await authorizeCode(sim, { clientId: 'asym' });
    const wrongType = await tokenRequest(sim.origin, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer',
      client_assertion: await assertion(),
    });
    expect(wrongType).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const both = await tokenRequest(
      sim.origin,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await assertion(),
      },
      { authorization: `Basic ${Buffer.from('asym:x').toString('base64')}` },
    );
    expect(both).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });
});
