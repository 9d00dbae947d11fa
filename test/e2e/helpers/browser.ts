// Real Chromium (Debian's /usr/bin/chromium) driven by playwright-core. Never a downloaded browser.
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/** Where screenshots go when FHIRBRIDGE_SCREENSHOTS names a folder (for people looking at pages). */
export const screenshotDir = process.env.FHIRBRIDGE_SCREENSHOTS;
