// `doctor` against the sandbox registration as `npm start` makes it, then against the same
// registration broken the ways a first deployment breaks: a front (a reverse proxy in front of
// the bridge, as its publicUrl) serving a JWKS that lacks the signing kid or leaks a private
// member or redirects, a redirect URI with a trailing slash, and a clock ten minutes ahead.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DoctorReport, formatReport, runDoctor } from '../../src/doctor/index.ts';
import { type Front, startFront } from './helpers/front.ts';
import { type Stack, startStack } from './helpers/stack.ts';

let stack: Stack;
let front: Front;

beforeAll(async () => {
  stack = await startStack();
  front = await startFront(stack.url);
});
afterAll(async () => {
  await front.close();
  await stack.close();
});

async function doctor(
  options: { publicUrl?: string; redirectUri?: string; clock?: { now(): number } } = {},
): Promise<DoctorReport> {
  const config = stack.runtime.config;
  const sandbox = config.registrations.sandbox!;
  return runDoctor(
    {
      config: {
        ...config,
        publicUrl: options.publicUrl ?? config.publicUrl,
        registrations: {
          sandbox: {
            ...sandbox,
            ...(options.redirectUri ? { redirectUri: options.redirectUri } : {}),
          },
        },
      },
      keys: stack.runtime.keys,
      clock: options.clock ?? stack.clock,
      fetch: globalThis.fetch,
      practices: (await stack.runtime.practices.list()).filter((p) => p.id === 'JAFJCD'),
    },
    { registration: 'sandbox' },
  );
}

const statusOf = (report: DoctorReport, check: string) =>
  report.results.find((r) => r.check === check)?.status;
/** The printed line of one check (its name is padded to the longest one's). */
const lineOf = (report: DoctorReport, check: string) => {
  const width = Math.max(...report.results.map((r) => r.check.length));
  return formatReport(report).find((line) => line.slice(6, 6 + width).trimEnd() === check);
};

describe('doctor on the sandbox registration', () => {
  it('passes a good registration: the JWKS publishes the signing key, discovery and clock agree, exit 0', async () => {
    const report = await doctor();
    const [active] = (await stack.runtime.keys.list('sandbox')).filter(
      (k) => k.status === 'active',
    );
    expect(report.results.map((r) => [r.check, r.status])).toEqual([
      ['registration', 'pass'],
      ['jwks url', 'warn'],
      ['jwks', 'pass'],
      ['redirect uri', 'pass'],
      ['discovery JAFJCD', 'pass'],
      ['auth server JAFJCD', 'warn'],
      ['clock', 'pass'],
      ['master key', 'pass'],
      ['file modes', 'pass'],
      ['budget', 'pass'],
    ]);
    expect(lineOf(report, 'jwks')).toBe(
      `PASS  jwks                ${stack.url}/jwks/sandbox.json: 1 key, RS384, use sig, signing key ${active!.kid} published`,
    );
    expect(lineOf(report, 'redirect uri')).toBe(
      `PASS  redirect uri        ${stack.url}/callback (register it exactly so, byte for byte)`,
    );
    expect(formatReport(report).at(-1)).toBe('8 passed, 2 warned, 0 failed');
    expect(report.exitCode).toBe(0);
  });

  it('fails a JWKS that does not publish the signing kid, exit 1', async () => {
    front.rewrite = async ({ path, forward }) => {
      if (path !== '/jwks/sandbox.json') return undefined;
      const jwks = (await (await forward()).json()) as { keys: Array<Record<string, unknown>> };
      return Response.json({ keys: jwks.keys.map((k) => ({ ...k, kid: 'not-the-signing-kid' })) });
    };
    const report = await doctor({ publicUrl: front.url });
    const [active] = (await stack.runtime.keys.list('sandbox')).filter(
      (k) => k.status === 'active',
    );
    expect(statusOf(report, 'jwks')).toBe('fail');
    expect(lineOf(report, 'jwks')).toBe(
      `FAIL  jwks                ${front.url}/jwks/sandbox.json does not publish the signing key ${active!.kid} (it has not-the-signing-kid)`,
    );
    expect(report.exitCode).toBe(1);
  });

  it('fails a JWKS with a private member and says to rotate', async () => {
    front.rewrite = async ({ path, forward }) => {
      if (path !== '/jwks/sandbox.json') return undefined;
      const jwks = (await (await forward()).json()) as { keys: Array<Record<string, unknown>> };
      return Response.json({ keys: jwks.keys.map((k) => ({ ...k, d: 'AQAB' })) });
    };
    const report = await doctor({ publicUrl: front.url });
    const failed = report.results.find((r) => r.check === 'jwks');
    expect(failed?.status).toBe('fail');
    expect(failed?.message).toMatch(/ has private members \(d\)$/);
    expect(failed?.fix).toContain('fhirbridge keys rotate');
    expect(report.exitCode).toBe(1);
  });

  it('fails a JWKS URL that redirects to its trailing-slash form: healow does not follow', async () => {
    front.rewrite = async ({ path }) =>
      path === '/jwks/sandbox.json'
        ? new Response(null, { status: 301, headers: { location: '/jwks/sandbox.json/' } })
        : undefined;
    const report = await doctor({ publicUrl: front.url });
    expect(lineOf(report, 'jwks')).toBe(
      `FAIL  jwks                ${front.url}/jwks/sandbox.json answers 301 to /jwks/sandbox.json/`,
    );
    expect(report.exitCode).toBe(1);
  });

  it('warns on a redirect URI with a trailing slash (healow matches exactly)', async () => {
    front.rewrite = undefined;
    const report = await doctor({ redirectUri: `${stack.url}/callback/` });
    expect(lineOf(report, 'redirect uri')).toBe(
      `WARN  redirect uri        ${stack.url}/callback/ ends with a slash`,
    );
    expect(report.exitCode).toBe(0);
  });

  it("fails a clock ten minutes ahead of the practice's Date header", async () => {
    const report = await doctor({ clock: { now: () => Date.now() + 10 * 60_000 } });
    expect(lineOf(report, 'clock')).toBe(
      `FAIL  clock               600 s ahead of ${new URL(stack.sim.url).origin}`,
    );
    expect(report.exitCode).toBe(1);
  });
});
