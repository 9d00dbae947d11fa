// Connects a test patient through the real flow over plain HTTP, the way a browser would:
// POST /api/connections → our launch link (cookie) → simulator authorize → login form →
// consent form → our /callback. No shortcut into either side.
import type { Stack } from './stack.ts';

export interface ConnectOptions {
  practice?: string;
  username?: string;
  password?: string;
  userRef?: string;
  decision?: 'allow' | 'deny';
  /** Scopes the patient unticks on the consent page. */
  untick?: string[];
  /** Starts the connection instead of `POST /api/connections` with the stack's key (a client). */
  start?: () => Promise<{ id: string; authorizeUrl: string }>;
}

export interface ConnectResult {
  connectionId: string;
  outcome: string;
  /** Where the callback sent the browser. */
  finalUrl: string;
  cookie: string;
}

const field = (html: string, name: string) =>
  new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
const decode = (s: string) =>
  s
    .replaceAll('&amp;', '&')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>');

async function expectRedirect(response: Response, what: string): Promise<string> {
  const location = response.headers.get('location');
  if (response.status < 300 || response.status >= 400 || !location) {
    throw new Error(
      `${what}: expected a redirect, got ${response.status}: ${(await response.text()).slice(0, 300)}`,
    );
  }
  return location;
}

export async function connectPatient(
  stack: Stack,
  options: ConnectOptions = {},
): Promise<ConnectResult> {
  const { id, authorizeUrl } = options.start ? await options.start() : await start(stack, options);

  const launch = await fetch(authorizeUrl, { redirect: 'manual' });
  const cookie = (launch.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const ehrAuthorize = await expectRedirect(launch, 'launch');

  const loginPage = await (await fetch(ehrAuthorize, { redirect: 'manual' })).text();
  const requestId = field(loginPage, 'request_id');
  if (!requestId) throw new Error(`no login form: ${loginPage.slice(0, 300)}`);
  const origin = new URL(ehrAuthorize).origin;
  const consentPage = await (
    await fetch(`${origin}/oauth/oauth2/login`, {
      method: 'POST',
      body: new URLSearchParams({
        request_id: requestId,
        username: options.username ?? 'AdultFemaleFHIR',
        password: options.password ?? 'e@CWFHIR1',
      }),
    })
  ).text();
  const scopes = [...consentPage.matchAll(/name="scope" value="([^"]*)"/g)].map((m) =>
    decode(m[1]!),
  );
  if (scopes.length === 0) throw new Error(`no consent form: ${consentPage.slice(0, 300)}`);
  const form = new URLSearchParams({
    request_id: field(consentPage, 'request_id') ?? requestId,
    decision: options.decision ?? 'allow',
  });
  for (const scope of scopes) if (!options.untick?.includes(scope)) form.append('scope', scope);
  const consent = await fetch(`${origin}/oauth/oauth2/consent`, {
    method: 'POST',
    body: form,
    redirect: 'manual',
  });
  const callback = await expectRedirect(consent, 'consent');

  const back = await fetch(callback, { headers: { cookie }, redirect: 'manual' });
  const finalUrl = await expectRedirect(back, 'callback');
  return {
    connectionId: id,
    outcome: new URL(finalUrl).searchParams.get('outcome') ?? '',
    finalUrl,
    cookie,
  };
}

async function start(
  stack: Stack,
  options: ConnectOptions,
): Promise<{ id: string; authorizeUrl: string }> {
  const created = await stack.api('/api/connections', {
    method: 'POST',
    body: JSON.stringify({
      practice: options.practice ?? 'JAFJCD',
      userRef: options.userRef ?? `user-${Math.random().toString(36).slice(2)}`,
    }),
  });
  if (created.status !== 201)
    throw new Error(`POST /api/connections: ${created.status} ${await created.text()}`);
  return (await created.json()) as { id: string; authorizeUrl: string };
}
