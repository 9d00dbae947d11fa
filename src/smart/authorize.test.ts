import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import {
  buildAuthorizeUrl,
  createAuthorizeRequest,
  createPkce,
  pkceChallenge,
} from './authorize.ts';

const base = {
  authorizationEndpoint: 'https://oauthserver.eclinicalworks.com/oauth/oauth2/authorize',
  clientId: 'client-1',
  redirectUri: 'https://app.example/callback',
  scope: ['openid', 'fhirUser', 'launch/patient', 'patient/Patient.read'],
  aud: 'https://fhir4.healow.com/fhir/r4/JAFJCD/',
};

describe('PKCE', () => {
  it('matches the RFC 7636 appendix B test vector', async () => {
    expect(await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('creates a 43-character verifier and its S256 challenge, fresh each time', async () => {
    const a = await createPkce();
    const b = await createPkce();
    expect(a.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.challenge).toBe(await pkceChallenge(a.verifier));
    expect(a.method).toBe('S256');
    expect(a.verifier).not.toBe(b.verifier);
  });
});

describe('buildAuthorizeUrl', () => {
  it('sends every SMART parameter, aud without trailing slash, S256 always', () => {
    const url = new URL(
      buildAuthorizeUrl({ ...base, state: 'st', codeChallenge: 'ch', nonce: 'n1' }),
    );
    expect(url.origin + url.pathname).toBe(base.authorizationEndpoint);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'client-1',
      redirect_uri: 'https://app.example/callback',
      scope: 'openid fhirUser launch/patient patient/Patient.read',
      state: 'st',
      aud: 'https://fhir4.healow.com/fhir/r4/JAFJCD',
      code_challenge: 'ch',
      code_challenge_method: 'S256',
      nonce: 'n1',
    });
  });

  it('keeps the endpoint query, adds extra parameters, refuses to override ours', () => {
    const url = new URL(
      buildAuthorizeUrl({
        ...base,
        authorizationEndpoint: 'http://127.0.0.1:9090/authorize?tenant=t1',
        state: 's',
        codeChallenge: 'c',
        extraParams: { practice_code: 'JAFJCD' },
      }),
    );
    expect(url.searchParams.get('tenant')).toBe('t1');
    expect(url.searchParams.get('practice_code')).toBe('JAFJCD');
    expect(url.searchParams.has('nonce')).toBe(false);
    expect(() =>
      buildAuthorizeUrl({
        ...base,
        state: 's',
        codeChallenge: 'c',
        extraParams: { code_challenge_method: 'plain' },
      }),
    ).toThrow(/code_challenge_method/);
  });

  it('rejects an empty scope list or a non-URL aud', () => {
    for (const bad of [
      { ...base, scope: [] },
      { ...base, scope: ['a b'] },
      { ...base, aud: 'not a url' },
    ]) {
      try {
        buildAuthorizeUrl({ ...bad, state: 's', codeChallenge: 'c' });
        expect.unreachable();
      } catch (err) {
        expect(isBridgeError(err, 'invalid_request')).toBe(true);
      }
    }
  });
});

describe('createAuthorizeRequest', () => {
  it('generates 256-bit state, a nonce and a PKCE pair bound into the URL', async () => {
    const req = await createAuthorizeRequest(base);
    const q = new URL(req.url).searchParams;
    expect(req.state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('state')).toBe(req.state);
    expect(q.get('nonce')).toBe(req.nonce);
    expect(q.get('code_challenge')).toBe(await pkceChallenge(req.codeVerifier));
    expect(req.url).not.toContain(req.codeVerifier);
    expect((await createAuthorizeRequest(base)).state).not.toBe(req.state);
    const noNonce = await createAuthorizeRequest({ ...base, nonce: false });
    expect(noNonce.nonce).toBeUndefined();
    expect(new URL(noNonce.url).searchParams.has('nonce')).toBe(false);
  });
});
