// The patient pages need no key, so what they can cost is bounded: a launch link spends the
// practice's budget once however often it is opened, /connect and /launch are limited per
// address and browser with a 429 page, and the rows unanswered sign-ins leave are capped and
// expire. Over real HTTP against the simulator, on a real SQLite file.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Stack, type StackOptions, startStack } from './helpers/stack.ts';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function up(options: StackOptions = {}): Promise<Stack> {
  stack = await startStack(options);
  return stack;
}

const MINUTE = 60_000;
const plenty = { limit: 10_000, windowMs: MINUTE };

/** POST /connect as a browser without a cookie would (a new anonymous sign-in each time). */
const postConnect = (s: Stack, headers: Record<string, string> = {}) =>
  fetch(`${s.url}/connect`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: 'practice=JAFJCD',
  });

async function statusesOf(responses: Array<Promise<Response>>): Promise<number[]> {
  const statuses: number[] = [];
  for (const pending of responses) {
    const response = await pending;
    statuses.push(response.status);
    await response.arrayBuffer();
  }
  return statuses;
}

/** Connection rows started from the patient pages. */
async function webConnections(s: Stack): Promise<number> {
  const all = await s.runtime.store.connections.list({ limit: 10_000 });
  return all.filter((c) => c.userRef.startsWith('web:')).length;
}

describe('a launch link', () => {
  it('spends the practice budget once, however often it is re-opened (300 re-opens: 1 slot)', async () => {
    const s = await up({ config: { signIn: { perAddress: plenty, perBrowser: plenty } } });
    const created = await s.api('/api/connections', {
      method: 'POST',
      body: JSON.stringify({ practice: 'JAFJCD', userRef: 'user-1' }),
    });
    const { authorizeUrl } = (await created.json()) as { authorizeUrl: string };
    const acquire = vi.spyOn(s.runtime.budget, 'acquire');
    const first = await fetch(authorizeUrl, { redirect: 'manual' });
    expect(first.status).toBe(302);
    const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const statuses = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const again = await fetch(authorizeUrl, { redirect: 'manual', headers: { cookie } });
      statuses.add(again.status);
      await again.arrayBuffer();
    }
    expect([...statuses]).toEqual([302]);
    expect(acquire).toHaveBeenCalledTimes(1);
  });

  it('is refused with a 429 page past the per-browser limit, with Retry-After', async () => {
    const s = await up({
      config: { signIn: { perAddress: plenty, perBrowser: { limit: 5, windowMs: MINUTE } } },
    });
    const created = await s.api('/api/connections', {
      method: 'POST',
      body: JSON.stringify({ practice: 'JAFJCD', userRef: 'user-1' }),
    });
    const { authorizeUrl } = (await created.json()) as { authorizeUrl: string };
    const first = await fetch(authorizeUrl, { redirect: 'manual' });
    const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const statuses: number[] = [first.status];
    let refused: Response | undefined;
    for (let i = 0; i < 9; i++) {
      const again = await fetch(authorizeUrl, { redirect: 'manual', headers: { cookie } });
      statuses.push(again.status);
      if (again.status === 429) refused ??= again;
      else await again.arrayBuffer();
    }
    // The first request had no cookie yet: it counted by address only.
    expect(statuses).toEqual([302, 302, 302, 302, 302, 302, 429, 429, 429, 429]);
    expect(refused?.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(refused?.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    const page = (await refused?.text()) ?? '';
    expect(page).toContain('Please wait a moment');
    expect(page).toContain('Too many sign-in attempts came from this device or network');
  });
});

describe('POST /connect without a key', () => {
  it('refuses 200 anonymous sign-ins past the per-address limit with 429, making no row past it', async () => {
    const s = await up();
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) {
      const response = await postConnect(s);
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    // The default: 30 a minute per address.
    expect(statuses.filter((x) => x === 303)).toHaveLength(30);
    expect(statuses.filter((x) => x === 429)).toHaveLength(170);
    expect(statuses.slice(0, 30).every((x) => x === 303)).toBe(true);
    expect(await webConnections(s)).toBe(30);
  });

  it('stops at the cap of pending connections from many addresses, and forgets them once abandoned', async () => {
    const s = await up({
      config: {
        signIn: {
          perAddress: plenty,
          perBrowser: plenty,
          maxPendingConnections: 50,
          pendingConnectionTtlMs: 30 * MINUTE,
        },
      },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) {
      const response = await postConnect(s);
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    expect(statuses.filter((x) => x === 303)).toHaveLength(50);
    expect(statuses.filter((x) => x === 429)).toHaveLength(150);
    expect(await webConnections(s)).toBe(50);
    const refused = await postConnect(s);
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain('Many people are signing in right now');

    // Half an hour on, the sign-ins (10 minutes) and their connections are abandoned.
    s.clock.shift(31 * MINUTE);
    const after = await postConnect(s);
    expect(after.status).toBe(303);
    expect(await webConnections(s)).toBe(1);
  });

  it('does not let anonymous sign-ins stop an app’s: API connections are not counted', async () => {
    const s = await up({
      config: { signIn: { perAddress: plenty, perBrowser: plenty, maxAuthSessions: 3 } },
    });
    for (let i = 0; i < 3; i++) expect((await postConnect(s)).status).toBe(303);
    expect((await postConnect(s)).status).toBe(429);
    const created = await s.api('/api/connections', {
      method: 'POST',
      body: JSON.stringify({ practice: 'JAFJCD', userRef: 'user-1' }),
    });
    expect(created.status).toBe(201);
  });

  it('ignores X-Forwarded-For unless the proxy is trusted: a forged address gets no new allowance', async () => {
    const s = await up({ config: { signIn: { perAddress: { limit: 2, windowMs: MINUTE } } } });
    const forged = await statusesOf(
      [1, 2, 3].map((i) => postConnect(s, { 'x-forwarded-for': `203.0.113.${i}` })),
    );
    expect(forged).toEqual([303, 303, 429]);
  });

  it('counts each patient behind a trusted proxy by their forwarded address', async () => {
    const s = await up({
      config: {
        trustProxy: ['127.0.0.1'],
        signIn: { perAddress: { limit: 2, windowMs: MINUTE } },
      },
    });
    const one = { 'x-forwarded-for': '203.0.113.1' };
    const two = { 'x-forwarded-for': '203.0.113.2' };
    const statuses = await statusesOf([
      postConnect(s, one),
      postConnect(s, one),
      postConnect(s, one),
      postConnect(s, two),
    ]);
    expect(statuses).toEqual([303, 303, 429, 303]);
  });
});
