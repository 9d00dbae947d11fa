// The patient's path in a real browser: /connect → healow login → consent → back, connected.
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshotDir } from './helpers/browser.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let browser: Browser;
let stack: Stack | undefined;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function shot(page: Page, name: string) {
  if (screenshotDir)
    await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}

async function signInAtHealow(page: Page, username: string) {
  await expect.poll(() => page.title()).toContain('healow');
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', 'e@CWFHIR1');
  await shot(page, '2-healow-login');
  await page.click('button[value="login"]');
  await page.waitForSelector('button[value="allow"]');
}

describe('connecting in Chromium', () => {
  it('AdultFemaleFHIR allows and lands back connected, with her name', async () => {
    stack = await startStack();
    const page = await browser.newPage();
    await page.goto(`${stack.url}/connect`);
    await shot(page, '1-connect');
    await page.check('input[name="practice"][value="JAFJCD"]');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await signInAtHealow(page, 'AdultFemaleFHIR');
    expect(await page.textContent('body')).toContain('fhirbridge sandbox app');
    await shot(page, '3-healow-consent');
    await page.click('button[value="allow"]');
    await page.waitForURL(/\/connect\/done/);
    await shot(page, '4-connected');

    const connectionId = new URL(page.url()).searchParams.get('connection')!;
    const heading = await page.textContent('h1');
    expect(heading).toMatch(/^Welcome, /);

    // Her Patient through the API: the same name the page shows.
    const view = (await (await stack.api(`/api/connections/${connectionId}`)).json()) as {
      state: string;
      patient: string;
    };
    expect(view.state).toBe('active');
    const patient = (await (
      await stack.api(`/api/connections/${connectionId}/fhir/Patient/${view.patient}`)
    ).json()) as {
      name: Array<{ given?: string[]; family?: string; text?: string }>;
    };
    const name = patient.name[0]!;
    expect(heading).toBe(`Welcome, ${name.text ?? [...(name.given ?? []), name.family].join(' ')}`);
    expect(await page.textContent('[data-testid="patient-id"]')).toBe(view.patient);

    // Disconnect from the page: the tokens are gone.
    await page.click('button.secondary');
    await page.waitForSelector('text=Disconnected');
    expect((await stack.runtime.vault.get(connectionId)).sealedTokens).toBeNull();
    await page.close();
  });

  it('Deny brings the patient back to a calm "not shared" page', async () => {
    stack = await startStack();
    const page = await browser.newPage();
    await page.goto(`${stack.url}/connect`);
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await signInAtHealow(page, 'AdultFemaleFHIR');
    await page.click('button[value="deny"]');
    await page.waitForURL(/outcome=declined/);
    await shot(page, '5-declined');
    expect(await page.textContent('h1')).toBe('You chose not to share');
    await page.close();
  });

  it('finds a practice by a misspelt name and connects there', async () => {
    stack = await startStack();
    const page = await browser.newPage();
    await page.goto(`${stack.url}/connect`);
    await page.fill('input[name="q"]', 'riversde famly');
    await page.click('button.secondary-action');
    await page.waitForURL(/q=riversde/);
    await shot(page, '6-search');
    const first = page.locator('.choices li').first();
    expect(await first.textContent()).toContain('Riverside Family Medicine');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await signInAtHealow(page, 'AdultMaleFHIR');
    expect(await page.textContent('body')).toContain('Riverside Family Medicine');
    await page.click('button[value="allow"]');
    await page.waitForURL(/outcome=connected/);
    expect(await page.textContent('h1')).toMatch(/^Welcome, /);

    await page.goto(`${stack.url}/connect?q=${encodeURIComponent('zzzz nothing like it')}`);
    expect(await page.textContent('.empty')).toContain('No practice matches');
    await page.close();
  });

  it('a wrong password stays on the healow page with an error', async () => {
    stack = await startStack();
    const page = await browser.newPage();
    await page.goto(`${stack.url}/connect`);
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await expect.poll(() => page.title()).toContain('healow');
    await page.fill('input[name="username"]', 'AdultFemaleFHIR');
    await page.fill('input[name="password"]', 'wrong');
    await page.click('button[value="login"]');
    await page.waitForSelector('text=Invalid username or password');
    expect(page.url()).toContain(stack.sim.url);
    await page.close();
  });
});
