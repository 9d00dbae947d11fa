import { type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { type BridgeError, isBridgeError } from '../common/errors.ts';
import { createIdTokenValidator } from './id-token.ts';
import { deadUrl, startTestServer, type TestServer } from './server.test-helper.ts';
import { generateTestKey, type TestKey } from './signer.test-helper.ts';

let server: TestServer;
let jwksUri: string;
let published: JWK[] = [];
let k1: TestKey;
let k2: TestKey;
let ec: TestKey;
let rs256: TestKey;
const clock = new ManualClock(Date.UTC(2026, 4, 1, 9));
const issuer = 'https://fhir4.healow.com/fhir/r4/JAFJCD';
const clientId = 'app-1';

beforeAll(async () => {
  [k1, k2, ec, rs256] = await Promise.all([
    generateTestKey('as-1', 'RS384'),
    generateTestKey('as-2', 'RS384'),
    generateTestKey('as-ec', 'ES384'),
    generateTestKey('as-256', 'RS256'),
  ]);
  server = await startTestServer(() => ({ body: { keys: published } }));
  jwksUri = `${server.url}/oauth/oauth2/jwks`;
});
afterAll(() => server.close());

function idToken(key: TestKey, claims: JWTPayload = {}, header: Record<string, unknown> = {}) {
  const now = Math.floor(clock.now() / 1000);
  return new SignJWT({
    iss: issuer,
    sub: 'user-1',
    aud: clientId,
    iat: now,
    exp: now + 300,
    nonce: 'n-1',
    fhirUser: `${issuer}/Patient/p-1`,
    ...claims,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}

function validator(jwksCooldownMs = 0) {
  server.requests.length = 0;
  return createIdTokenValidator({ clock, jwksCooldownMs });
}

async function rejected(promise: Promise<unknown>): Promise<BridgeError> {
  try {
    await promise;
  } catch (err) {
    if (isBridgeError(err, 'invalid_id_token')) return err;
    throw err;
  }
  throw new Error('expected invalid_id_token');
}

const expected = () => ({ jwksUri, issuer, clientId, nonce: 'n-1' });

describe('validateIdToken', () => {
  it('accepts a good RS384, ES384 or RS256 id_token and returns its claims', async () => {
    published = [k1.publicJwk, ec.publicJwk, rs256.publicJwk];
    const v = validator();
    const claims = await v.validateIdToken(await idToken(k1), expected());
    expect(claims).toMatchObject({ sub: 'user-1', fhirUser: `${issuer}/Patient/p-1` });
    await v.validateIdToken(await idToken(ec), expected());
    await v.validateIdToken(await idToken(rs256), expected());
    // One JWKS fetch, reused across calls.
    expect(server.requests).toHaveLength(1);
  });

  it('checks aud, including a list of audiences with azp', async () => {
    published = [k1.publicJwk];
    const v = validator();
    const wrong = await rejected(
      v.validateIdToken(await idToken(k1, { aud: 'other' }), expected()),
    );
    expect(wrong.message).toMatch(/aud/);
    await v.validateIdToken(await idToken(k1, { aud: ['x', clientId], azp: clientId }), expected());
    await rejected(
      v.validateIdToken(await idToken(k1, { aud: ['x', clientId], azp: 'x' }), expected()),
    );
  });

  it('checks iss against the discovery issuer, and skips it when discovery had none', async () => {
    published = [k1.publicJwk];
    const v = validator();
    const token = await idToken(k1, { iss: 'https://evil.example' });
    const err = await rejected(v.validateIdToken(token, expected()));
    expect(err.message).toMatch(/iss/);
    await expect(
      v.validateIdToken(token, { ...expected(), issuer: undefined }),
    ).resolves.toMatchObject({ iss: 'https://evil.example' });
  });

  it('checks exp and iat with 60 s tolerance on the injected clock', async () => {
    published = [k1.publicJwk];
    const v = validator();
    const now = Math.floor(clock.now() / 1000);
    await v.validateIdToken(await idToken(k1, { iat: now - 400, exp: now - 59 }), expected());
    const expired = await rejected(
      v.validateIdToken(await idToken(k1, { iat: now - 400, exp: now - 61 }), expected()),
    );
    expect(expired.message).toMatch(/exp/);
    await rejected(v.validateIdToken(await idToken(k1, { iat: now + 61 }), expected()));
    await rejected(v.validateIdToken(await idToken(k1, { exp: undefined }), expected()));
  });

  it('checks the nonce when one was sent', async () => {
    published = [k1.publicJwk];
    const v = validator();
    const err = await rejected(v.validateIdToken(await idToken(k1, { nonce: 'n-2' }), expected()));
    expect(err.message).toMatch(/nonce/);
    await rejected(v.validateIdToken(await idToken(k1, { nonce: undefined }), expected()));
    await v.validateIdToken(await idToken(k1, { nonce: undefined }), {
      ...expected(),
      nonce: undefined,
    });
  });

  it('refuses a bad signature and a symmetric alg', async () => {
    published = [k1.publicJwk];
    const v = validator();
    // Signed by k2 but claiming k1's kid.
    await rejected(v.validateIdToken(await idToken(k2, {}, { kid: k1.kid }), expected()));
    const hs = await new SignJWT({ iss: issuer, aud: clientId, sub: 's' })
      .setProtectedHeader({ alg: 'HS256', kid: k1.kid })
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor(clock.now() / 1000) + 60)
      .sign(new Uint8Array(32));
    const err = await rejected(v.validateIdToken(hs, expected()));
    expect(err.message).toMatch(/algorithm/);
    await rejected(v.validateIdToken('not.a.jwt', expected()));
  });

  it('refetches the JWKS on an unknown kid, so a rotated server key verifies', async () => {
    published = [k1.publicJwk];
    const v = validator();
    await v.validateIdToken(await idToken(k1), expected());
    expect(server.requests).toHaveLength(1);
    published = [k1.publicJwk, k2.publicJwk];
    await v.validateIdToken(await idToken(k2), expected());
    expect(server.requests).toHaveLength(2);
    await v.validateIdToken(await idToken(k1), expected());
    expect(server.requests).toHaveLength(2);
  });

  it('refuses an unknown kid during the refetch cooldown', async () => {
    published = [k1.publicJwk];
    const v = validator(60_000);
    await v.validateIdToken(await idToken(k1), expected());
    published = [k1.publicJwk, k2.publicJwk];
    const err = await rejected(v.validateIdToken(await idToken(k2), expected()));
    expect(err.message).toMatch(/no key/);
    expect(server.requests).toHaveLength(1);
  });

  it('fails with invalid_id_token when the JWKS is unreachable', async () => {
    const v = validator();
    await rejected(
      v.validateIdToken(await idToken(k1), { ...expected(), jwksUri: `${await deadUrl()}/jwks` }),
    );
  });
});
