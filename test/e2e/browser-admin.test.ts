// The operator dashboard in real Chromium at 1280 and 390 px: sign-in (a wrong password, then
// the right one), the overview's counts, the connections filtered by state, one connection's
// patient, scopes and events as the API reports them, and a confirmed disconnect; the sign-in's
// rate limit and the CSRF check over plain HTTP.
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/common/logger.ts';
import { createRuntime } from '../../src/runtime.ts';
import { startServer } from '../../src/server.ts';
import { hashAdminPassword } from '../../src/web/admin/auth.ts';
import {
  chromiumSuite,
  shot,
  VIEWPORTS,
  type ViewportName,
  watchConsole,
} from './helpers/browser.ts';
import { connectPatient } from './helpers/connect.ts';

const suite = chromiumSuite();
const PASSWORD = 'correct horse battery staple';
let passwordHash: string;

beforeAll(async () => {
  passwordHash = await hashAdminPassword(PASSWORD);
});

const withAdmin = () =>
  suite.startStack({ config: { admin: { users: [{ username: 'ops', passwordHash }] } } });

async function signIn(page: Page, password = PASSWORD) {
  await page.fill('#username', 'ops');
  await page.fill('#password', password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState();
}

describe.each(['desktop', 'phone'] as const)(
  'the operator dashboard (%s)',
  (width: ViewportName) => {
    it('signs in, shows the connections by state, and disconnects one after a confirmation', async () => {
      const stack = await withAdmin();
      const { connectionId } = await connectPatient(stack);
      const view = (await (await stack.api(`/api/connections/${connectionId}`)).json()) as {
        patient: string;
        scopes: string[];
      };
      const context = await suite.browser.newContext({ viewport: VIEWPORTS[width] });
      const page = await context.newPage();
      const problems = watchConsole(page);

      await page.goto(`${stack.url}/admin`);
      expect(new URL(page.url()).pathname).toBe('/admin/sign-in');
      await shot(page, `admin-sign-in-${width}`);
      await signIn(page, 'wrong password');
      expect(await page.textContent('[role="alert"]')).toBe(
        'That username and password do not match.',
      );
      // That page's 401 was the point; from here on, nothing may fail.
      problems.length = 0;
      await signIn(page);
      await page.waitForURL(`${stack.url}/admin`);
      const tile = (label: string) =>
        page
          .locator('.tile', { has: page.locator('.l', { hasText: new RegExp(`^${label}$`) }) })
          .locator('.n');
      expect(await tile('connections').textContent()).toBe('1');
      expect(await tile('active').textContent()).toBe('1');
      expect(await tile('revoked').textContent()).toBe('0');
      await shot(page, `admin-overview-${width}`);

      await page.getByRole('link', { name: 'Connections', exact: true }).click();
      await page.selectOption('#state', 'revoked');
      await page.getByRole('button', { name: 'Filter' }).click();
      expect(await page.textContent('main')).toContain('No connection matches.');
      await page.selectOption('#state', 'active');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForURL(/state=active/);
      expect(await page.locator('tbody tr').count()).toBe(1);
      await shot(page, `admin-connections-${width}`);

      await page.getByRole('link', { name: connectionId }).click();
      await page.waitForURL(new RegExp(`/admin/connections/${connectionId}$`));
      const dd = (label: string) => page.locator(`dt:text-is("${label}") + dd`);
      expect(await dd('Patient').textContent()).toBe(view.patient);
      expect(await page.locator('.scopes li').allTextContents()).toEqual(view.scopes);
      expect(await page.locator('td', { hasText: /^connection\.connected$/ }).count()).toBe(1);
      await shot(page, `admin-connection-${width}`);

      // Unconfirmed, nothing happens; confirmed, the connection is revoked.
      await page.check('input[name="confirm"]');
      await page.getByRole('button', { name: 'Disconnect' }).click();
      await page.waitForURL(new RegExp(`/admin/connections/${connectionId}$`));
      expect(await page.locator('dt:text-is("State") + dd .status').textContent()).toBe('revoked');
      const after = (await (await stack.api(`/api/connections/${connectionId}`)).json()) as {
        state: string;
      };
      expect(after.state).toBe('revoked');
      expect(problems).toEqual([]);
      await context.close();
    });
  },
);

describe('the operator dashboard in Chromium', () => {
  it('lists a webhook delivery that failed for good and redelivers it', async () => {
    const stack = await suite.startStack({
      config: {
        admin: { users: [{ username: 'ops', passwordHash }] },
        // A closed port: the one attempt fails and the delivery is dead at once.
        webhooks: [{ url: 'http://127.0.0.1:1/hooks', secret: `whsec_${'A'.repeat(32)}` }],
        webhookDelivery: { pollIntervalMs: 50, maxAttempts: 1, timeoutMs: 500 },
        sync: { onConnect: false },
      },
    });
    const { connectionId } = await connectPatient(stack);
    const dead = async () =>
      (
        (await (await stack.api('/api/webhooks/deliveries?status=dead')).json()) as {
          deliveries: Array<{ id: string; redeliveries: number; connectionId: string }>;
        }
      ).deliveries;
    await expect.poll(async () => (await dead()).length, { timeout: 10_000 }).toBe(1);
    const [delivery] = await dead();
    expect(delivery!.connectionId).toBe(connectionId);

    const page = await (await suite.browser.newContext({ viewport: VIEWPORTS.desktop })).newPage();
    await page.goto(`${stack.url}/admin/webhooks?status=dead`);
    await signIn(page);
    await page.goto(`${stack.url}/admin/webhooks?status=dead`);
    // The endpoint it was for is listed, from the configuration, by origin and path only.
    const endpoint = page.locator('#endpoints tbody tr');
    expect(await endpoint.count()).toBe(1);
    expect(await endpoint.locator('td').nth(2).textContent()).toBe('configuration file');
    const row = page.locator('#deliveries tbody tr');
    expect(await row.count()).toBe(1);
    expect(await row.locator('td').first().textContent()).toBe(
      `connection.connected${connectionId}`,
    );
    expect(await row.locator('.status').textContent()).toBe('dead');
    await shot(page, 'admin-webhooks-desktop');
    await row.getByRole('button', { name: 'Redeliver' }).click();
    await page.waitForURL(`${stack.url}/admin/webhooks`);
    const again = (await (await stack.api(`/api/webhooks/deliveries/${delivery!.id}`)).json()) as {
      redeliveries: number;
    };
    expect(again.redeliveries).toBe(1);
    await page.context().close();
  });
});

describe.each(['desktop', 'phone'] as const)('the operator dashboard: live sync (%s)', (width) => {
  it('Sync now streams the sync to its end, each type with its count as the sync API reports it', async () => {
    const stack = await suite.startStack({
      simulator: { rateLimit: { limit: 5000 } },
      config: { admin: { users: [{ username: 'ops', passwordHash }] }, sync: { onConnect: false } },
    });
    const { connectionId } = await connectPatient(stack);
    const page = await (await suite.browser.newContext({ viewport: VIEWPORTS[width] })).newPage();
    const problems = watchConsole(page);
    await page.goto(`${stack.url}/admin/sign-in`);
    await signIn(page);
    await page.goto(`${stack.url}/admin/connections/${connectionId}`);
    await expect.poll(() => page.getAttribute('#sync-live', 'data-status')).toBe('never');
    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.waitForURL(new RegExp(`/admin/connections/${connectionId}$`));
    await expect
      .poll(() => page.getAttribute('#sync-live', 'data-status'), { timeout: 60_000 })
      .toBe('succeeded');
    const shown = await page
      .locator('#sync-live tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)),
      );
    const api = (await (await stack.api(`/api/connections/${connectionId}/sync`)).json()) as {
      progress: {
        types: Record<
          string,
          { outcome?: string; status: string; resources: number; pages: number }
        >;
      };
    };
    expect(shown).toEqual(
      Object.entries(api.progress.types).map(([type, t]) => [
        type,
        t.outcome ?? t.status,
        String(t.resources),
        String(t.pages),
      ]),
    );
    expect(shown.length).toBeGreaterThan(5);
    await shot(page, `admin-sync-${width}`);
    expect(problems).toEqual([]);
    await page.context().close();
  });
});

describe('the operator dashboard: practices', () => {
  it('shows each practice with its health and budget, and charts the budget from the samples', async () => {
    const stack = await withAdmin();
    await connectPatient(stack);
    const page = await (await suite.browser.newContext({ viewport: VIEWPORTS.desktop })).newPage();
    const problems = watchConsole(page);
    await page.goto(`${stack.url}/admin/sign-in`);
    await signIn(page);
    await page.goto(`${stack.url}/admin/practices?q=prodtest`);
    const rows = page.locator('tbody tr[data-practice]');
    expect(await rows.count()).toBe(1);
    const base = (await stack.runtime.practices.get('JAFJCD'))!.base;
    const usage = (await stack.runtime.budget.usageAll()).find((u) => u.practice === base)!;
    expect(usage.used).toBeGreaterThan(0);
    expect(await rows.locator('.budget-now').textContent()).toBe(`${usage.used} / ${usage.limit}`);
    const figure = page.locator(`[data-budget="${base}"]`);
    await expect.poll(() => figure.locator('.plot').getAttribute('data-last')).toMatch(/^\d+$/);
    const drawnUntil = Number(await figure.locator('.plot').getAttribute('data-last'));
    // Reading the history takes a sample too: the chart holds every sample up to its newest.
    const history = (await page.evaluate(async () =>
      (await fetch('/admin/practices/budget.json')).json(),
    )) as Record<string, Array<{ at: number }>>;
    expect(await figure.locator('.plot').getAttribute('data-points')).toBe(
      String(history[base]!.filter((x) => x.at <= drawnUntil).length),
    );
    expect(await figure.locator('canvas').count()).toBeGreaterThan(0);
    await shot(page, 'admin-practices-desktop');
    expect(problems).toEqual([]);
    await page.context().close();
  });
});

describe.each(['desktop', 'phone'] as const)('the operator dashboard: keys (%s)', (width) => {
  it('rotates a signing key only once its keyring is typed, and the JWKS shows both keys', async () => {
    const stack = await withAdmin();
    const jwksKids = async () =>
      (
        (await (await fetch(`${stack.url}/jwks/sandbox.json`)).json()) as {
          keys: Array<{ kid: string }>;
        }
      ).keys.map((k) => k.kid);
    const before = await jwksKids();
    expect(before).toHaveLength(1);
    const page = await (await suite.browser.newContext({ viewport: VIEWPORTS[width] })).newPage();
    await page.goto(`${stack.url}/admin/sign-in`);
    await signIn(page);
    await page.goto(`${stack.url}/admin/keys`);
    const ring = page.locator('[data-keyring="sandbox"]');
    expect(await ring.locator('tbody tr').count()).toBe(1);
    // The wrong name: nothing rotates.
    await ring.locator('input[name="confirm"]').fill('production');
    await ring.getByRole('button', { name: 'Rotate key' }).click();
    await page.waitForURL(`${stack.url}/admin/keys`);
    expect(await ring.locator('tbody tr').count()).toBe(1);
    expect(await jwksKids()).toEqual(before);
    await ring.locator('input[name="confirm"]').fill('sandbox');
    await ring.getByRole('button', { name: 'Rotate key' }).click();
    await page.waitForURL(`${stack.url}/admin/keys`);
    // The sandbox publishes a new key with no delay: it signs at once, the old one retires.
    const rows = await ring
      .locator('tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [
          tr.querySelector('td')?.textContent,
          tr.querySelector('.status')?.textContent,
        ]),
      );
    const status = Object.fromEntries(rows);
    expect(status[before[0]!]).toBe('retired');
    expect(Object.values(status).sort()).toEqual(['active', 'retired']);
    const after = await jwksKids();
    expect(after).toHaveLength(2);
    expect(after).toContain(before[0]);
    await shot(page, `admin-keys-${width}`);
    await page.context().close();
  });
});

describe('the operator dashboard over HTTP', () => {
  it('limits sign-in attempts and refuses a form without its CSRF token', async () => {
    const stack = await withAdmin();
    const { connectionId } = await connectPatient(stack);
    const post = (path: string, body: string, cookie = '') =>
      fetch(`${stack.url}${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          origin: stack.url,
          cookie,
        },
        body,
      });
    const good = await post(
      '/admin/sign-in',
      `username=ops&password=${encodeURIComponent(PASSWORD)}`,
    );
    expect(good.status).toBe(303);
    const setCookie = good.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(
      /^fb_admin=[^;]+; Max-Age=28800; Path=\/admin; HttpOnly; SameSite=Strict$/,
    );
    const cookie = setCookie.split(';')[0]!;

    // The session's own form works only with its token.
    const forged = await post(
      `/admin/connections/${connectionId}/disconnect`,
      'confirm=yes',
      cookie,
    );
    expect(forged.status).toBe(403);
    expect((await stack.runtime.vault.get(connectionId)).state).toBe('active');

    // Four more wrong attempts are answered; the next is refused before the password is checked.
    for (let i = 0; i < 4; i++) {
      expect((await post('/admin/sign-in', 'username=ops&password=nope')).status).toBe(401);
    }
    const refused = await post(
      '/admin/sign-in',
      `username=ops&password=${encodeURIComponent(PASSWORD)}`,
    );
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Without a session every page sends the browser to the sign-in.
    const anonymous = await fetch(`${stack.url}/admin/connections`, { redirect: 'manual' });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/admin/sign-in');
  });
});

describe.each(['desktop', 'phone'] as const)(
  'the operator dashboard: sync runs (%s)',
  (width: ViewportName) => {
    it('lists every sync run and follows one started elsewhere live to its end, with the counts the sync API reports', async () => {
      const stack = await suite.startStack({
        simulator: { rateLimit: { limit: 5000 } },
        config: {
          admin: { users: [{ username: 'ops', passwordHash }] },
          sync: { onConnect: false },
        },
      });
      const { connectionId } = await connectPatient(stack);
      const page = await (await suite.browser.newContext({ viewport: VIEWPORTS[width] })).newPage();
      const problems = watchConsole(page);
      await page.goto(`${stack.url}/admin/sign-in`);
      await signIn(page);
      await page.goto(`${stack.url}/admin/syncs`);
      expect(await page.locator('#sync-runs tbody tr').count()).toBe(0);
      await expect.poll(() => page.getAttribute('#sync-runs', 'data-updates')).toBe('1');

      // Started over the API, not from this page: the list picks it up by itself.
      const started = (await (
        await stack.api(`/api/connections/${connectionId}/sync`, { method: 'POST', body: '{}' })
      ).json()) as { job: { id: string } };
      const row = page.locator(`#sync-runs tr[data-job="${started.job.id}"]`);
      await expect
        .poll(() => row.getAttribute('data-status'), { timeout: 60_000 })
        .toBe('succeeded');
      // Redrawn more than once on the way: it followed the run, not just its end.
      expect(Number(await page.getAttribute('#sync-runs', 'data-updates'))).toBeGreaterThan(2);
      const api = (await (await stack.api(`/api/connections/${connectionId}/sync`)).json()) as {
        progress: { types: Record<string, { resources: number; pages: number }> };
      };
      const types = Object.values(api.progress.types);
      expect(await row.locator('.resources').textContent()).toBe(
        String(types.reduce((n, t) => n + t.resources, 0)),
      );
      expect(await row.locator('.pages').textContent()).toBe(
        String(types.reduce((n, t) => n + t.pages, 0)),
      );
      expect(await row.locator('.types').textContent()).toContain(
        `${types.length} / ${types.length} types`,
      );
      await shot(page, `admin-syncs-${width}`);
      expect(problems).toEqual([]);
      await page.context().close();
    });
  },
);

describe('the operator dashboard: registrations on the practices page', () => {
  it('shows each registration with its keyring (active, next, retired kids, JWKS) and rotates only after the name is typed', async () => {
    const stack = await withAdmin();
    const registration = stack.runtime.config.registrations.sandbox!;
    const jwksKids = async () =>
      (
        (await (await fetch(`${stack.url}/jwks/sandbox.json`)).json()) as {
          keys: Array<{ kid: string }>;
        }
      ).keys.map((k) => k.kid);
    const [first] = await jwksKids();
    const page = await (await suite.browser.newContext({ viewport: VIEWPORTS.phone })).newPage();
    const problems = watchConsole(page);
    await page.goto(`${stack.url}/admin/sign-in`);
    await signIn(page);
    await page.goto(`${stack.url}/admin/practices`);
    const row = page.locator('[data-registration="sandbox"]');
    expect(await row.locator('td').nth(2).textContent()).toBe(registration.clientId);
    const ring = page.locator('#registrations ~ [data-keyring="sandbox"]');
    expect(await ring.locator('[data-kids="active"]').textContent()).toBe(first);
    expect(await ring.locator('[data-kids="retired"]').textContent()).toBe('—');
    expect(await ring.locator('a[href="/jwks/sandbox.json"]').count()).toBe(1);

    await ring.locator('input[name="confirm"]').fill('sandbo');
    await ring.getByRole('button', { name: 'Rotate key' }).click();
    await page.waitForURL(`${stack.url}/admin/practices#keyring-sandbox`);
    expect(await jwksKids()).toEqual([first]);
    await ring.locator('input[name="confirm"]').fill('sandbox');
    await ring.getByRole('button', { name: 'Rotate key' }).click();
    await page.waitForURL(`${stack.url}/admin/practices#keyring-sandbox`);
    const kids = await jwksKids();
    expect(kids).toHaveLength(2);
    const fresh = kids.find((k) => k !== first);
    expect(await ring.locator('[data-kids="active"]').textContent()).toBe(fresh);
    expect(await ring.locator('[data-kids="retired"]').textContent()).toBe(first);
    await shot(page, 'admin-registrations-phone');
    expect(problems).toEqual([]);
    await page.context().close();
  });
});

describe('the operator session across API processes', () => {
  it('is read by a second API process on the same master key, as after a restart', async () => {
    const stack = await withAdmin();
    const signedIn = await fetch(`${stack.url}/admin/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: stack.url },
      body: `username=ops&password=${encodeURIComponent(PASSWORD)}`,
    });
    const cookie = (signedIn.headers.get('set-cookie') ?? '').split(';')[0]!;
    expect(cookie).toMatch(/^fb_admin=/);
    // Another API process: its own runtime and server, the same configuration and master key.
    const second = await createRuntime({
      config: stack.runtime.config,
      logger: createLogger({ level: 'silent' }),
      clock: stack.clock,
    });
    const server = await startServer(second, { host: '127.0.0.1', port: 0, role: 'api' });
    try {
      const overview = await fetch(`${server.url}/admin`, {
        redirect: 'manual',
        headers: { cookie },
      });
      expect(overview.status).toBe(200);
      expect(await overview.text()).toContain('<h1>Overview</h1>');
      // A cookie signed under another key is still refused there.
      const forged = await fetch(`${server.url}/admin`, {
        redirect: 'manual',
        headers: { cookie: `${cookie.slice(0, -2)}xx` },
      });
      expect(forged.status).toBe(303);
    } finally {
      await server.close();
      await second.close();
    }
  });
});
