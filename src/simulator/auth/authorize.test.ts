import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeCode,
  authorizeUrl,
  hiddenRequestId,
  pkcePair,
  postForm,
  publicClientToken,
  startTestSimulator,
  TEST_REDIRECT,
  type TestSimulator,
} from '../simulator.test-helper.ts';

describe('authorize, login and consent', () => {
  let sim: TestSimulator;
  beforeAll(async () => {
    sim = await startTestSimulator({
      registrations: [
        {
          clientId: 'sim-demo-public',
          type: 'public',
          redirectUris: [TEST_REDIRECT],
          appName: 'Demo <App> & "Co"',
          appDescription: 'Reads <b>your</b> records',
        },
        {
          clientId: 'narrow-app',
          type: 'public',
          redirectUris: [TEST_REDIRECT],
          scopes: ['openid', 'launch/patient', 'patient/Patient.read'],
          appName: 'Narrow',
        },
      ],
    });
  });
  afterAll(() => sim.close());

  const authorize = (url: string) => fetch(url, { redirect: 'manual' });
  const urlWith = (change: (params: URLSearchParams) => void): string => {
    const url = new URL(authorizeUrl(sim, pkcePair().challenge));
    change(url.searchParams);
    return url.href;
  };
  const redirectedError = (response: Response) => {
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(TEST_REDIRECT);
    return location.searchParams;
  };

  it('shows the healow login page with the four test patients', async () => {
    const response = await authorize(authorizeUrl(sim, pkcePair().challenge));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html).toContain('<title>healow - Health and Online Wellness</title>');
    for (const u of ['AdultFemaleFHIR', 'AdultMaleFHIR', 'ChildFemaleFHIR', 'ChildMaleFHIR']) {
      expect(html).toContain(u);
    }
    // The pending request travels in a hidden field, not in the form's action.
    expect(html).toContain('action="/oauth/oauth2/login"');
    expect(hiddenRequestId(html)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Everything is escaped.
    expect(html).toContain('Demo &lt;App&gt; &amp; &quot;Co&quot;');
    expect(html).not.toContain('<App>');
  });

  it('answers an unknown client_id with a 400 page, never a redirect', async () => {
    const response = await authorize(urlWith((p) => p.set('client_id', 'nobody')));
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await response.text()).toContain('client_id');
  });

  it('answers a redirect_uri differing by a trailing slash with a 400 page', async () => {
    const response = await authorize(urlWith((p) => p.set('redirect_uri', `${TEST_REDIRECT}/`)));
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    const missing = await authorize(urlWith((p) => p.delete('redirect_uri')));
    expect(missing.status).toBe(400);
  });

  it('redirects with invalid_request when aud is not a practice base exactly', async () => {
    for (const aud of [`${sim.base()}/`, `${sim.origin}/fhir/r4/NOPE`, undefined]) {
      const response = await authorize(
        urlWith((p) => (aud === undefined ? p.delete('aud') : p.set('aud', aud))),
      );
      const params = redirectedError(response);
      expect(params.get('error')).toBe('invalid_request');
      expect(params.get('state')).toBe('state-123');
    }
  });

  it('refuses a scope outside scopes_supported or the registration', async () => {
    const unknown = redirectedError(
      await authorize(urlWith((p) => p.set('scope', 'openid patient/Unicorn.read'))),
    );
    expect(unknown.get('error')).toBe('invalid_scope');
    const star = redirectedError(await authorize(urlWith((p) => p.set('scope', 'patient/*.read'))));
    expect(star.get('error')).toBe('invalid_scope');
    const narrow = redirectedError(
      await authorize(
        urlWith((p) => {
          p.set('client_id', 'narrow-app');
          p.set('scope', 'openid patient/Observation.read');
        }),
      ),
    );
    expect(narrow.get('error')).toBe('invalid_scope');
  });

  it('requires PKCE S256', async () => {
    for (const change of [
      (p: URLSearchParams) => p.delete('code_challenge'),
      (p: URLSearchParams) => p.delete('code_challenge_method'),
      (p: URLSearchParams) => p.set('code_challenge_method', 'plain'),
      (p: URLSearchParams) => p.set('code_challenge', 'short'),
    ]) {
      const params = redirectedError(await authorize(urlWith(change)));
      expect(params.get('error')).toBe('invalid_request');
      expect(params.get('state')).toBe('state-123');
    }
  });

  it('refuses another response_type, a missing state and repeated parameters', async () => {
    expect(
      redirectedError(await authorize(urlWith((p) => p.set('response_type', 'token')))).get(
        'error',
      ),
    ).toBe('unsupported_response_type');
    const noState = redirectedError(await authorize(urlWith((p) => p.delete('state'))));
    expect(noState.get('error')).toBe('invalid_request');
    expect(noState.get('state')).toBeNull();
    expect(
      redirectedError(await authorize(urlWith((p) => p.append('scope', 'openid')))).get('error'),
    ).toBe('invalid_request');
  });

  it('tolerates a practice_code parameter and accepts POST (authorize-post)', async () => {
    const get = await authorize(urlWith((p) => p.set('practice_code', 'JAFJCD')));
    expect(get.status).toBe(200);
    const url = new URL(urlWith((p) => p.set('practice_code', 'JAFJCD')));
    const post = await postForm(
      `${sim.origin}/oauth/oauth2/authorize`,
      Object.fromEntries(url.searchParams),
    );
    expect(post.status).toBe(200);
    expect(await post.text()).toContain('name="request_id"');
  });

  it('keeps a wrong password on the login page with an error', async () => {
    const html = await (await authorize(authorizeUrl(sim, pkcePair().challenge))).text();
    const requestId = hiddenRequestId(html);
    const wrong = await postForm(`${sim.origin}/oauth/oauth2/login`, {
      request_id: requestId,
      username: 'AdultMaleFHIR',
      password: 'nope',
    });
    expect(wrong.status).toBe(200);
    const again = await wrong.text();
    expect(again).toContain('healow - Health and Online Wellness');
    expect(again).toContain('Invalid username or password');
    expect(again).not.toContain('Personal Information Sharing');
    // The same request can still log in.
    const right = await postForm(`${sim.origin}/oauth/oauth2/login`, {
      request_id: requestId,
      username: 'AdultMaleFHIR',
      password: 'e@CWFHIR1',
    });
    expect(await right.text()).toContain('Personal Information Sharing');
  });

  it('refuses a patient without an account at the practice', async () => {
    const html = await (
      await authorize(authorizeUrl(sim, pkcePair().challenge, { practice: 'CDHJEB' }))
    ).text();
    const response = await postForm(`${sim.origin}/oauth/oauth2/login`, {
      request_id: hiddenRequestId(html),
      username: 'ChildMaleFHIR',
      password: 'e@CWFHIR1',
    });
    expect(await response.text()).toContain('no account at this practice');
  });

  it('shows the consent page with app name, description and ticked scopes', async () => {
    const html = await (await authorize(authorizeUrl(sim, pkcePair().challenge))).text();
    const consent = await postForm(`${sim.origin}/oauth/oauth2/login`, {
      request_id: hiddenRequestId(html),
      username: 'AdultFemaleFHIR',
      password: 'e@CWFHIR1',
    });
    const page = await consent.text();
    expect(page).toContain('<title>Personal Information Sharing</title>');
    expect(page).toContain('Demo &lt;App&gt; &amp; &quot;Co&quot;');
    expect(page).toContain('Reads &lt;b&gt;your&lt;/b&gt; records');
    for (const scope of ['openid', 'fhirUser', 'launch/patient', 'patient/Patient.read']) {
      expect(page).toContain(`name="scope" value="${scope}" checked`);
    }
    expect(page).toContain('value="allow"');
    expect(page).toContain('value="deny"');
  });

  it('redirects Deny with access_denied and the state', async () => {
    const html = await (
      await authorize(authorizeUrl(sim, pkcePair().challenge, { state: 'deny-state' }))
    ).text();
    const consent = await postForm(`${sim.origin}/oauth/oauth2/login`, {
      request_id: hiddenRequestId(html),
      username: 'AdultFemaleFHIR',
      password: 'e@CWFHIR1',
    });
    const requestId = hiddenRequestId(await consent.text());
    const denied = await postForm(`${sim.origin}/oauth/oauth2/consent`, {
      request_id: requestId,
      decision: 'deny',
    });
    const params = redirectedError(denied);
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('state')).toBe('deny-state');
    expect(params.get('code')).toBeNull();
    // One decision per request.
    const twice = await postForm(`${sim.origin}/oauth/oauth2/consent`, {
      request_id: requestId,
      decision: 'allow',
      scope: 'openid',
    });
    expect(twice.status).toBe(400);
  });

  it('grants only the scopes left ticked', async () => {
    const { code, verifier, state } = await authorizeCode(sim, {
      scope: 'openid fhirUser launch/patient patient/Patient.read patient/Observation.read',
      grant: ['launch/patient', 'patient/Patient.read', 'patient/Unicorn.read'],
      state: 'keep-me',
    });
    expect(state).toBe('keep-me');
    const token = await publicClientToken(sim.origin, { code, verifier });
    expect(token.body.scope).toBe('launch/patient patient/Patient.read');
    expect(token.body.id_token).toBeUndefined();
  });

  it('asks again when nothing is ticked', async () => {
    const html = await (await authorize(authorizeUrl(sim, pkcePair().challenge))).text();
    const consent = await postForm(`${sim.origin}/oauth/oauth2/login`, {
      request_id: hiddenRequestId(html),
      username: 'AdultFemaleFHIR',
      password: 'e@CWFHIR1',
    });
    const response = await postForm(`${sim.origin}/oauth/oauth2/consent`, {
      request_id: hiddenRequestId(await consent.text()),
      decision: 'allow',
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Select at least one');
  });

  it('refuses consent before login and a pending request after it expires', async () => {
    const html = await (await authorize(authorizeUrl(sim, pkcePair().challenge))).text();
    const requestId = hiddenRequestId(html);
    const early = await postForm(`${sim.origin}/oauth/oauth2/consent`, {
      request_id: requestId,
      decision: 'allow',
      scope: 'openid',
    });
    expect(early.status).toBe(400);
    sim.clock.shift(11 * 60_000);
    const late = await postForm(`${sim.origin}/oauth/oauth2/login`, {
      request_id: requestId,
      username: 'AdultFemaleFHIR',
      password: 'e@CWFHIR1',
    });
    expect(late.status).toBe(400);
    expect(await late.text()).toContain('expired');
    const unknown = await postForm(`${sim.origin}/oauth/oauth2/login`, {
      request_id: 'made-up',
      username: 'AdultFemaleFHIR',
      password: 'e@CWFHIR1',
    });
    expect(unknown.status).toBe(400);
  });

  it('keeps the redirect_uri query and adds code and state to it', async () => {
    await sim.admin('POST', '/registrations', {
      clientId: 'query-app',
      type: 'public',
      redirectUris: ['http://127.0.0.1:9999/cb?tenant=a'],
      appName: 'Query',
    });
    const { redirect } = await authorizeCode(sim, {
      clientId: 'query-app',
      redirectUri: 'http://127.0.0.1:9999/cb?tenant=a',
    });
    expect(redirect.searchParams.get('tenant')).toBe('a');
    expect(redirect.searchParams.get('state')).toBe('state-123');
  });
});
