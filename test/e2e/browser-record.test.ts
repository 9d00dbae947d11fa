// The record viewer in real Chromium at 1280 and 390 px, checked against the synced data: the
// patient's name, and each vital sign's chart drawn with every value and date the sync stored.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashAdminPassword } from '../../src/web/admin/auth.ts';
import { readRecord } from '../../src/web/admin/record.ts';
import {
  chromiumSuite,
  screenshotDir,
  shot,
  shotOf,
  VIEWPORTS,
  watchConsole,
} from './helpers/browser.ts';
import { connectPatient } from './helpers/connect.ts';
import type { Stack } from './helpers/stack.ts';

const suite = chromiumSuite();
const PASSWORD = 'correct horse battery staple';
let passwordHash: string;

beforeAll(async () => {
  passwordHash = await hashAdminPassword(PASSWORD);
});

/** Every synced resource of one type, through the resources API. */
async function synced(s: Stack, connectionId: string, type: string) {
  const bundle = (await (
    await s.api(`/api/connections/${connectionId}/resources/${type}?_count=1000`)
  ).json()) as { entry?: Array<{ resource: Record<string, unknown> }> };
  return (bundle.entry ?? []).map((e) => e.resource);
}

describe.each(['desktop', 'phone'] as const)('the record viewer (%s)', (width) => {
  it('charts every synced vital sign value on its date, names the patient, and opens a document as its Binary', async () => {
    const { s: stack, connectionId } = await syncedStack({
      admin: { users: [{ username: 'ops', passwordHash }] },
    });

    // What the page must show, from the synced resources themselves.
    const observations = await synced(stack, connectionId, 'Observation');
    const [patient] = await synced(stack, connectionId, 'Patient');
    const expected = readRecord([...observations, patient!]);
    const vitals = expected.charts.filter((c) => c.kind === 'vital');
    expect(vitals.map((c) => c.label)).toContain('Body weight');

    const context = await suite.browser.newContext({ viewport: VIEWPORTS[width] });
    const page = await context.newPage();
    const problems = watchConsole(page);
    await page.goto(`${stack.url}/admin/sign-in`);
    await page.fill('#username', 'ops');
    await page.fill('#password', PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${stack.url}/admin`);
    await page.goto(`${stack.url}/admin/connections/${connectionId}/record`);
    expect(await page.textContent('[data-testid="record-patient"]')).toBe(expected.patient.name);

    for (const chart of vitals) {
      const figure = page.locator(`[data-chart="${chart.id}"]`);
      // Drawn: a canvas, and as many points as the sync stored.
      await expect
        .poll(() => figure.locator('.plot').getAttribute('data-points'))
        .toBe(String(chart.series.reduce((n, s) => n + s.points.length, 0)));
      expect(await figure.locator('canvas').count()).toBeGreaterThan(0);
      // Each value on its date, as the Observations say.
      const rows = await figure
        .locator('table.values tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)),
        );
      const want = chart.series.flatMap((s) =>
        s.points.map(([t, v]) => [
          new Date(t).toISOString().slice(0, 10),
          chart.series.length > 1 ? s.name : '',
          String(v),
        ]),
      );
      expect(rows).toEqual(want);
    }
    // Spot check against one raw Observation: a weight's value and day, without readRecord.
    const weight = observations.find((o) =>
      (o.code as { coding: Array<{ code: string }> }).coding.some((c) => c.code === '29463-7'),
    ) as { effectiveDateTime: string; valueQuantity: { value: number } };
    const weightRows = await page
      .locator('[data-chart="29463-7"] table.values tbody tr')
      .evaluateAll((trs) => trs.map((tr) => tr.textContent));
    expect(weightRows).toContain(
      `${weight.effectiveDateTime.slice(0, 10)}${weight.valueQuantity.value}`,
    );
    // A document opens as a download of exactly the synced Binary, with its content type.
    const link = page.locator('.record-list a[href*="/documents/"]').first();
    const href = (await link.getAttribute('href')) as string;
    const binaryId = href.split('/').pop() as string;
    const binary = (await (
      await stack.api(`/api/connections/${connectionId}/resources/Binary/${binaryId}`)
    ).json()) as { contentType: string; data: string };
    const download = await page.request.get(`${stack.url}${href}`);
    expect(download.status()).toBe(200);
    expect(download.headers()['content-type']).toBe(binary.contentType);
    expect(download.headers()['content-disposition']).toMatch(
      new RegExp(`^attachment; filename="document-${binaryId}\\.(pdf|xml|html|txt|rtf|bin)"$`),
    );
    expect(download.headers()['x-content-type-options']).toBe('nosniff');
    expect(Buffer.from(await download.body()).equals(Buffer.from(binary.data, 'base64'))).toBe(
      true,
    );
    await shot(page, `record-${width}`);
    await shotOf(page.locator('.charts').first(), `record-vitals-${width}`);
    expect(problems).toEqual([]);
    await context.close();
  });
});

/**
 * A stack (with `config` over the sandbox defaults) with AdultFemaleFHIR connected and her
 * record synced; the connection's id.
 */
async function syncedStack(
  config: Record<string, unknown> = {},
): Promise<{ s: Stack; connectionId: string }> {
  const s = await suite.startStack({ simulator: { rateLimit: { limit: 5000 } }, config });
  const { connectionId } = await connectPatient(s);
  expect(
    (await s.api(`/api/connections/${connectionId}/sync`, { method: 'POST', body: '{}' })).status,
  ).toBe(202);
  await expect
    .poll(
      async () =>
        (
          (await (await s.api(`/api/connections/${connectionId}/sync`)).json()) as {
            status: string;
          }
        ).status,
      { timeout: 60_000, interval: 250 },
    )
    .toBe('succeeded');
  return { s, connectionId };
}

describe.each(['desktop', 'phone'] as const)(
  'the patient record by a signed link (%s)',
  (width) => {
    it('opens read only without a sign-in, charts the synced values, and says so when the link is changed or expired', async () => {
      const { s, connectionId } = await syncedStack();
      const observations = await synced(s, connectionId, 'Observation');
      const [patient] = await synced(s, connectionId, 'Patient');
      const expected = readRecord([...observations, patient!]);

      // Another app cannot link to this connection.
      const other = (await (
        await s.api('/api/apikeys', {
          method: 'POST',
          body: JSON.stringify({ name: 'other-app', role: 'app' }),
        })
      ).json()) as { secret: string };
      const foreign = await fetch(`${s.url}/api/connections/${connectionId}/record-link`, {
        method: 'POST',
        headers: { authorization: `Bearer ${other.secret}` },
      });
      expect(foreign.status).toBe(404);

      const made = await s.api(`/api/connections/${connectionId}/record-link`, {
        method: 'POST',
        body: JSON.stringify({ ttlSeconds: 300 }),
      });
      expect(made.status).toBe(201);
      const { url, expiresAt } = (await made.json()) as { url: string; expiresAt: string };
      expect(url.startsWith(`${s.url}/record/`)).toBe(true);
      expect(Date.parse(expiresAt) - s.clock.now()).toBeGreaterThan(290_000);
      expect(Date.parse(expiresAt) - s.clock.now()).toBeLessThanOrEqual(300_000);

      // A fresh browser: no operator session, no cookie of any kind.
      const context = await suite.browser.newContext({ viewport: VIEWPORTS[width] });
      const page = await context.newPage();
      const problems = watchConsole(page);
      const opened = await page.goto(url);
      expect(opened?.status()).toBe(200);
      expect(opened?.headers()['referrer-policy']).toBe('no-referrer');
      expect(await page.textContent('[data-testid="record-patient"]')).toBe(expected.patient.name);
      expect(await page.locator('form, nav, a[href^="/admin"]').count()).toBe(0);
      for (const chart of expected.charts.filter((c) => c.kind === 'vital')) {
        const figure = page.locator(`[data-chart="${chart.id}"]`);
        await expect
          .poll(() => figure.locator('.plot').getAttribute('data-points'))
          .toBe(String(chart.series.reduce((n, x) => n + x.points.length, 0)));
        const rows = await figure
          .locator('table.values tbody tr')
          .evaluateAll((trs) => trs.map((tr) => tr.querySelectorAll('td')[2]?.textContent));
        expect(rows).toEqual(chart.series.flatMap((x) => x.points.map(([, v]) => String(v))));
      }
      // Its documents open through the same link, as their synced Binary.
      const href = (await page
        .locator('.record-list a[href*="/documents/"]')
        .first()
        .getAttribute('href')) as string;
      expect(href.startsWith(new URL(url).pathname)).toBe(true);
      const binaryId = href.split('/').pop() as string;
      const binary = (await (
        await s.api(`/api/connections/${connectionId}/resources/Binary/${binaryId}`)
      ).json()) as { data: string };
      const download = await page.request.get(`${s.url}${href}`);
      expect(download.headers()['content-disposition']).toMatch(/^attachment; /);
      expect(Buffer.from(await download.body()).equals(Buffer.from(binary.data, 'base64'))).toBe(
        true,
      );
      // What the patient sees first, at the window's size (the whole record is megabytes).
      await page.screenshot({ path: join(screenshotDir, `patient-record-${width}.png`) });
      expect(problems).toEqual([]);

      // Changed by one character: a page that says the link does not work, and nothing else.
      const last = url.at(-1) === 'A' ? 'B' : 'A';
      const changed = await page.goto(`${url.slice(0, -1)}${last}`);
      expect(changed?.status()).toBe(404);
      expect(await page.textContent('h1')).toBe("This link doesn't work");
      expect(await page.locator('[data-testid="record-patient"]').count()).toBe(0);
      await shot(page, `patient-record-changed-${width}`);

      // Past its expiry (the injected clock moves on): the patient is told to ask the app again.
      s.clock.shift(301_000);
      const expired = await page.goto(url);
      expect(expired?.status()).toBe(410);
      expect(await page.textContent('h1')).toBe('This link has expired');
      expect(await page.locator('[data-testid="record-patient"]').count()).toBe(0);
      expect((await page.request.get(`${s.url}${href}`)).status()).toBe(410);
      await shot(page, `patient-record-expired-${width}`);
      await context.close();
    });
  },
);
