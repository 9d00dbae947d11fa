// The patient's path in real Chromium, at a laptop's and a phone's width: find the practice
// (as you type, or without JavaScript), connect at the healow login, read the done page, deny
// and retry, a practice that fails, and a connection the app has ended.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { DIRECTORY_PATH } from '../../src/simulator/directory.ts';
import { sharedRecords } from '../../src/web/records.ts';
import {
  chromiumSuite,
  shot,
  VIEWPORTS,
  type ViewportName,
  watchConsole,
} from './helpers/browser.ts';

const suite = chromiumSuite();

async function open(width: ViewportName, javaScriptEnabled = true): Promise<Page> {
  const context = await suite.browser.newContext({ viewport: VIEWPORTS[width], javaScriptEnabled });
  return context.newPage();
}

async function signInAtHealow(page: Page, username: string) {
  await expect.poll(() => page.title()).toContain('healow');
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', 'e@CWFHIR1');
  await page.click('button[value="login"]');
  await page.waitForSelector('button[value="allow"]');
}

async function connectAt(page: Page, practiceId: string, username = 'AdultFemaleFHIR') {
  await page.check(`input[name="practice"][value="${practiceId}"]`);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await signInAtHealow(page, username);
  await page.click('button[value="allow"]');
  await page.waitForURL(/outcome=connected/);
  return new URL(page.url()).searchParams.get('connection') as string;
}

const text = async (page: Page, selector: string) =>
  ((await page.textContent(selector)) ?? '').trim();

describe.each(['desktop', 'phone'] as const)('connecting in Chromium (%s)', (width) => {
  it('searches as you type, chooses nothing for the patient, and the done page says whose record, which practice and what was shared', async () => {
    const stack = await suite.startStack();
    const page = await open(width);
    const problems = watchConsole(page);
    await page.goto(`${stack.url}/connect`);
    await shot(page, `connect-${width}`);
    expect(await page.locator('input[name="practice"]:checked').count()).toBe(0);

    // Typed, misspelt, never submitted: the list follows the typing.
    await page.locator('#q').pressSequentially('riversde famly', { delay: 20 });
    await expect
      .poll(() => page.locator('.choices li .name').first().textContent())
      .toBe('Riverside Family Medicine');
    // The last keystroke's answer is in (the address bar follows it).
    await page.waitForURL(/q=riversde(%20|\+)famly$/);
    expect(await page.locator('input[name="practice"]:checked').count()).toBe(0);
    await shot(page, `search-${width}`);

    const id = await connectAt(page, 'BFGHDA', 'AdultMaleFHIR');
    await shot(page, `connected-${width}`);
    const view = (await (await stack.api(`/api/connections/${id}`)).json()) as {
      patient: string;
      scopes: string[];
    };
    const patient = (await (
      await stack.api(`/api/connections/${id}/fhir/Patient/${view.patient}`)
    ).json()) as { name: Array<{ given?: string[]; family?: string; text?: string }> };
    const n = patient.name[0]!;
    const name = n.text ?? [...(n.given ?? []), n.family].join(' ');
    expect(await text(page, 'h1')).toBe(`Welcome, ${name}`);
    expect(await text(page, '[data-testid="patient-name"]')).toBe(name);
    expect(await page.locator('dd').nth(1).textContent()).toBe('Riverside Family Medicine');
    // What was shared, in words, exactly as the granted scopes say.
    const shared = sharedRecords(view.scopes);
    expect(shared.kinds.length).toBeGreaterThan(0);
    if (shared.everything) {
      expect(await text(page, 'h2 + p')).toMatch(
        /^Everything in your record at Riverside Family Medicine/,
      );
    } else {
      const items = await page.locator('.shared li').allTextContents();
      expect(items).toEqual(shared.kinds.map((k) => k[0]!.toUpperCase() + k.slice(1)));
    }
    expect(await page.textContent('body')).not.toContain(view.patient);

    await page.getByRole('button', { name: 'Disconnect' }).click();
    await page.waitForSelector('text=The app no longer has access');
    expect((await stack.runtime.vault.get(id)).sealedTokens).toBeNull();
    // No CSP violation, no script error on any page.
    expect(problems).toEqual([]);
    await page.context().close();
  });
});

describe('connecting in Chromium', () => {
  it('works without JavaScript: search with the button, then more results on demand', async () => {
    const stack = await suite.startStack({ simulator: { directorySize: 400 } });
    const imported = await stack.api('/api/practices/import', {
      method: 'POST',
      body: JSON.stringify({ url: `${stack.sim.url}${DIRECTORY_PATH}` }),
    });
    expect(imported.status).toBe(200);
    const page = await open('desktop', false);
    await page.goto(`${stack.url}/connect`);
    await page.fill('#q', 'medical');
    await page.click('button.secondary-action');
    await page.waitForURL(/q=medical/);
    expect(await page.locator('.choices li').count()).toBe(10);
    await page.click('text=Show more practices');
    await page.waitForURL(/show=20/);
    expect(await page.locator('.choices li').count()).toBe(20);
    expect(await page.locator('input[name="practice"]:checked').count()).toBe(0);
    await shot(page, 'search-more-desktop');
    await page.context().close();

    // A form sent with no practice chosen (a browser that ignores `required`) asks again.
    const unchosen = await fetch(`${stack.url}/connect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: stack.url },
      body: 'q=medical',
    });
    expect(unchosen.status).toBe(400);
    const again = await unchosen.text();
    expect(again).toContain('Choose your practice from the list first.');
    expect(again).toContain('value="medical"');
  });

  it('marks a practice whose health check failed, and tells the patient in words when one does not answer', async () => {
    const stack = await suite.startStack();
    // Mesa Verde fails its health check: shown, marked, not choosable.
    await stack.admin('/practices/FJDBGE/disable', { method: 'POST', body: '{}' });
    const checked = (await (
      await stack.api('/api/practices/FJDBGE/check', { method: 'POST' })
    ).json()) as { health: { discoveryOk: boolean } };
    expect(checked.health.discoveryOk).toBe(false);
    const page = await open('desktop');
    await page.goto(`${stack.url}/connect?q=mesa%20verde`);
    const item = page.locator('.choices li', { hasText: 'Mesa Verde Primary Care' });
    expect(await item.getAttribute('class')).toBe('unavailable');
    expect(await item.locator('input').isDisabled()).toBe(true);
    expect(await item.locator('.note').textContent()).toBe(
      'Not connecting right now: try again later',
    );
    await shot(page, 'unavailable-desktop');

    // Harbor Point stops answering before any check noticed: the patient reads what to do,
    // never the discovery error, and Try again works once it is back.
    await stack.admin('/practices/EGCAID/disable', { method: 'POST', body: '{}' });
    await page.goto(`${stack.url}/connect?q=harbor`);
    await page.check('input[name="practice"][value="EGCAID"]');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await page.waitForSelector('h1');
    expect(await text(page, 'h1')).toBe("We couldn't reach Harbor Point Women's Health");
    const body = (await page.textContent('body')) ?? '';
    expect(body).not.toMatch(/discovery|HTTP|metadata|http:\/\//i);
    await shot(page, 'unreachable-desktop');
    await stack.admin('/practices/EGCAID/enable', { method: 'POST', body: '{}' });
    await page.getByRole('button', { name: 'Try again' }).click();
    await expect.poll(() => page.title()).toContain('healow');
    await page.context().close();
  });

  it('a wrong password stays on the healow page with an error', async () => {
    const stack = await suite.startStack();
    const page = await open('desktop');
    await page.goto(`${stack.url}/connect`);
    await page.check('input[name="practice"][value="JAFJCD"]');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await expect.poll(() => page.title()).toContain('healow');
    await page.fill('input[name="username"]', 'AdultFemaleFHIR');
    await page.fill('input[name="password"]', 'wrong');
    await page.click('button[value="login"]');
    await page.waitForSelector('text=Invalid username or password');
    expect(page.url()).toContain(stack.sim.url);
    await page.context().close();
  });
});

describe.each(['desktop', 'phone'] as const)('the way back in Chromium (%s)', (width) => {
  it('Deny brings a calm "not shared" page whose Try again connects; the used sign-in answer shows a reference, not its cause', async () => {
    const stack = await suite.startStack();
    const page = await open(width);
    const callbacks: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/callback') callbacks.push(r.url());
    });
    await page.goto(`${stack.url}/connect`);
    await page.check('input[name="practice"][value="JAFJCD"]');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await signInAtHealow(page, 'AdultFemaleFHIR');
    await page.click('button[value="deny"]');
    await page.waitForURL(/outcome=declined/);
    await shot(page, `declined-${width}`);
    expect(await text(page, 'h1')).toBe('You chose not to share');
    await page.getByRole('button', { name: 'Try again' }).click();
    await signInAtHealow(page, 'AdultFemaleFHIR');
    await page.click('button[value="allow"]');
    await page.waitForURL(/outcome=connected/);
    expect(await text(page, 'h1')).toMatch(/^Welcome, /);

    // The first answer again (Back, a reload): used up. The patient reads what to do and a
    // reference; the cause is in the event under that reference, not on the page.
    const answer = await page.goto(callbacks[0]!);
    expect(answer?.status()).toBe(400);
    expect(await text(page, 'h1')).toBe('This sign-in link no longer works');
    const reference = await text(page, '[data-reference]');
    expect(reference).toMatch(/^[2-9A-Z]{4}-[2-9A-Z]{4}$/);
    const body = (await page.textContent('body')) ?? '';
    expect(body).not.toMatch(/used or expired|state|Details for support/i);
    const events = await stack.runtime.store.events.list({ limit: 500 });
    const kept = events.find((e) => e.type === 'web.page_error' && e.data.reference === reference);
    expect(String(kept?.data.detail)).toMatch(/used or expired/);
    await shot(page, `sign-in-problem-${width}`);
    await page.context().close();
  });

  it('after the app disconnects, the done page says the connection ended', async () => {
    const stack = await suite.startStack();
    const page = await open(width);
    await page.goto(`${stack.url}/connect`);
    const id = await connectAt(page, 'JAFJCD');
    expect((await stack.api(`/api/connections/${id}`, { method: 'DELETE' })).status).toBeLessThan(
      300,
    );
    await page.reload();
    expect(await text(page, 'h1')).toBe('This connection has ended');
    expect(await page.textContent('body')).not.toContain('Something went wrong');
    await shot(page, `ended-${width}`);
    await page.context().close();
  });
});
