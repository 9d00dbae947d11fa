// The embeddable flow in real Chromium: an app's page (its own origin) loads
// /fhirbridge-connect.js from fhirbridge, opens the sign-in in a popup, and the promise
// resolves with the connection and its outcome; closing the popup resolves "closed".
import { createServer, type Server } from 'node:http';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { chromiumSuite, shot, VIEWPORTS } from './helpers/browser.ts';
import { freePort, type Stack } from './helpers/stack.ts';

const suite = chromiumSuite();
let app: Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => (app ? app.close(resolve) : resolve(undefined)));
  app = undefined;
});

/** An app on its own origin whose page embeds the script from fhirbridge. */
async function startApp(): Promise<{ url: string; setBridge(url: string): void }> {
  let bridge = '';
  const port = await freePort();
  app = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(
      `<!doctype html><title>Acme Health</title><h1>Acme Health</h1><script src="${bridge}/fhirbridge-connect.js"></script>`,
    );
  });
  await new Promise<void>((resolve) => app!.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}`, setBridge: (url) => (bridge = url) };
}

async function authorizeUrl(s: Stack): Promise<{ id: string; authorizeUrl: string }> {
  const response = await s.api('/api/connections', {
    method: 'POST',
    body: JSON.stringify({ practice: 'JAFJCD', userRef: 'embed-user' }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; authorizeUrl: string };
}

const openFrom = (page: Page, url: string) =>
  page.evaluate(
    (u) =>
      (
        window as unknown as {
          FhirbridgeConnect: { open(o: { authorizeUrl: string }): Promise<unknown> };
        }
      ).FhirbridgeConnect.open({ authorizeUrl: u }),
    url,
  );

describe.each(['desktop', 'phone'] as const)('fhirbridge-connect.js (%s)', (width) => {
  it('opens the sign-in in a popup and resolves with the connection, connected', async () => {
    const acme = await startApp();
    const stack = await suite.startStack({ config: { returnToAllowList: [`${acme.url}/`] } });
    acme.setBridge(stack.url);
    const { id, authorizeUrl: url } = await authorizeUrl(stack);
    const page = await (await suite.browser.newContext({ viewport: VIEWPORTS[width] })).newPage();
    await page.goto(acme.url);
    const popupOpened = page.waitForEvent('popup');
    const result = openFrom(page, url);
    const popup = await popupOpened;
    await expect.poll(() => popup.title()).toContain('healow');
    await popup.fill('input[name="username"]', 'AdultFemaleFHIR');
    await popup.fill('input[name="password"]', 'e@CWFHIR1');
    await popup.click('button[value="login"]');
    await popup.click('button[value="allow"]');
    expect(await result).toEqual({ connection: id, outcome: 'connected' });
    await expect.poll(() => popup.isClosed()).toBe(true);
    expect((await stack.runtime.vault.get(id)).state).toBe('active');
    await shot(page, `embed-app-${width}`);
    await page.context().close();
  });

  it('resolves "closed" when the patient closes the popup', async () => {
    const acme = await startApp();
    const stack = await suite.startStack({ config: { returnToAllowList: [`${acme.url}/`] } });
    acme.setBridge(stack.url);
    const { authorizeUrl: url } = await authorizeUrl(stack);
    const page = await (await suite.browser.newContext({ viewport: VIEWPORTS[width] })).newPage();
    await page.goto(acme.url);
    const popupOpened = page.waitForEvent('popup');
    const result = openFrom(page, url);
    const popup = await popupOpened;
    await expect.poll(() => popup.title()).toContain('healow');
    await popup.close();
    expect(await result).toEqual({ connection: null, outcome: 'closed' });
    await page.context().close();
  });
});
