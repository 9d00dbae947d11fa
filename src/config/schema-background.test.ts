// The background configuration: defaults, webhook secrets from FHIRBRIDGE_WEBHOOK_SECRET_<N>,
// and every webhook problem reported at start-up without echoing a secret.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.ts';
import type { ConfigInput } from './schema.ts';

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;
const problems = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (error) {
    return ((error as { details?: { problems?: string[] } }).details?.problems ?? []) as string[];
  }
  throw new Error('expected an invalid configuration');
};

describe('background config', () => {
  it('has working defaults: daily re-syncs, 2 jobs at once, 7-day expiry notice, no webhooks', () => {
    const config = loadConfig({ env: {} });
    expect(config.sync).toMatchObject({
      intervalMs: 24 * 3_600_000,
      onConnect: true,
      concurrency: 2,
      maxAttempts: 5,
    });
    expect(config.webhooks).toEqual([]);
    expect(config.webhookDelivery.maxAttempts).toBe(8);
    expect(config.connectionExpiry.noticeDays).toBe(7);
  });

  it('takes webhook secrets from FHIRBRIDGE_WEBHOOK_SECRET_<N>', () => {
    const s0 = secret();
    const s1 = secret();
    const config = loadConfig({
      env: { FHIRBRIDGE_WEBHOOK_SECRET_0: s0, FHIRBRIDGE_WEBHOOK_SECRET_1: s1 },
      // As from a config file: the environment is applied over it.
      base: {
        webhooks: [
          { url: 'https://app.example/a' },
          { url: 'https://app.example/b', events: ['sync.*'] },
        ] as unknown as ConfigInput['webhooks'],
      },
    });
    expect(config.webhooks).toEqual([
      { url: 'https://app.example/a', secret: s0 },
      { url: 'https://app.example/b', secret: s1, events: ['sync.*'] },
    ]);
  });

  it('takes https receivers, and plain http only on this machine', () => {
    const hooks = (url: string) =>
      ({ webhooks: [{ url, secret: secret() }] }) as unknown as ConfigInput;
    expect(
      loadConfig({ env: {}, overrides: hooks('http://127.0.0.1:8099/hooks') }).webhooks,
    ).toHaveLength(1);
    expect(
      loadConfig({ env: {}, overrides: hooks('http://localhost/hooks') }).webhooks,
    ).toHaveLength(1);
    const found = problems(() =>
      loadConfig({ env: {}, overrides: hooks('http://app.example/hooks') }),
    );
    expect(found).toEqual(['webhooks.0.url: must be https (plain http only to localhost)']);
    expect(
      problems(() => loadConfig({ env: {}, overrides: hooks('http://localhost.evil.example/x') })),
    ).toHaveLength(1);
  });

  it('reports bad secrets, duplicate URLs and bad event names at once, without the secret', () => {
    const leaked = 'whsec_short';
    const found = problems(() =>
      loadConfig({
        env: {},
        overrides: {
          webhooks: [
            { url: 'https://app.example/a', secret: leaked },
            { url: 'https://app.example/a', secret: secret(), events: ['Sync Completed'] },
            { url: 'ftp://app.example/c', secret: 'plain-text-secret' },
          ],
        },
      }),
    );
    expect(found).toEqual(
      expect.arrayContaining([
        'webhooks.0.secret: must hold 24 to 64 bytes',
        'webhooks.1.url: is configured twice',
        'webhooks.1.events.0: is not an event type or "family.*"',
        'webhooks.2.url: must be an http(s) URL',
        'webhooks.2.secret: must be "whsec_" followed by base64',
      ]),
    );
    expect(found.join('\n')).not.toContain('plain-text-secret');
    expect(found.join('\n')).not.toContain(leaked);
  });
});
