// Real Chromium (Debian's /usr/bin/chromium) driven by playwright-core. Never a downloaded browser.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, vi } from 'vitest';
import { type Stack, type StackOptions, startStack } from './stack.ts';

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

export interface ChromiumSuite {
  /** The file's Chromium, launched before its first test. */
  readonly browser: Browser;
  /** Starts a stack that is closed after the test that started it. */
  startStack(options?: StackOptions): Promise<Stack>;
}

/**
 * The setup of a file of browser tests: one Chromium for the whole file, closed after its last
 * test, and each test's stacks closed after it. A real browser on a machine shared with other
 * suites takes its time, so each test may run 90 s.
 */
export function chromiumSuite(): ChromiumSuite {
  vi.setConfig({ testTimeout: 90_000 });
  let browser: Browser | undefined;
  const stacks: Stack[] = [];
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    for (const stack of stacks.splice(0)) await stack.close();
  });
  return {
    get browser() {
      if (!browser) throw new Error('Chromium is launched before the first test');
      return browser;
    },
    async startStack(options) {
      const stack = await startStack(options);
      stacks.push(stack);
      return stack;
    },
  };
}

/** The two widths every page is checked at: a laptop and a phone. */
export const VIEWPORTS = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
} as const;
export type ViewportName = keyof typeof VIEWPORTS;

/**
 * Where screenshots go: FHIRBRIDGE_SCREENSHOTS, or a folder under the system's temp dir; each
 * test run leaves one PNG per page it visits, named after the page and the width.
 */
export const screenshotDir =
  process.env.FHIRBRIDGE_SCREENSHOTS ?? join(tmpdir(), 'fhirbridge-screenshots');

export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}

/** One part of a page, for a picture small enough to show (a whole record is megabytes). */
export async function shotOf(part: Locator, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await part.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

/**
 * What went wrong on a page: script errors, CSP violations, and answers of 400 or more (a
 * missing asset) other than the favicon nobody serves.
 */
export function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    // A failed load is reported below with its URL.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(m.text());
    }
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) {
      problems.push(`${r.status()} ${r.url()}`);
    }
  });
  return problems;
}
