import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ destination }) };
}

describe('logger', () => {
  it('redacts secret-named fields at every depth we log', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        access_token: 'AT-1',
        refresh_token: 'RT-1',
        tokens: { anything: 'x' },
        response: { id_token: 'IDT-1', client_assertion: 'CA-1' },
        req: { headers: { authorization: 'Bearer AT-2', cookie: 'fb_browser=c' } },
        deep: { form: { code_verifier: 'V-1', client_secret: 'S-1' } },
      },
      'token call',
    );
    const line = lines.join('');
    for (const secret of [
      'AT-1',
      'RT-1',
      'IDT-1',
      'CA-1',
      'AT-2',
      'fb_browser=c',
      'V-1',
      'S-1',
      '"anything"',
    ]) {
      expect(line).not.toContain(secret);
    }
    expect(line).toContain('[redacted]');
  });

  it("redacts secret-named fields of a logged error and of a child logger's bindings", () => {
    const { lines, logger } = capture();
    class UpstreamError extends Error {
      details = { token: 'T-1', status: 502 };
      client_secret = 'S-2';
    }
    logger
      .child({ access_token: 'AT-3', form: { password: 'P-1' } })
      .error({ err: new UpstreamError('upstream failed') }, 'failed');
    const line = lines.join('');
    for (const secret of ['T-1', 'S-2', 'AT-3', 'P-1']) expect(line).not.toContain(secret);
    const logged = JSON.parse(line) as { err: Record<string, unknown> };
    expect(logged.err).toMatchObject({
      type: 'UpstreamError',
      message: 'upstream failed',
      details: { token: '[redacted]', status: 502 },
    });
    expect(String(logged.err.stack)).toContain('Error: upstream failed');
  });

  it('leaves the logged object itself as it was', () => {
    const { logger } = capture();
    const logged = { response: { id_token: 'IDT-2' }, list: [{ code: 'C-1' }] };
    logger.info(logged, 'token call');
    expect(logged).toEqual({ response: { id_token: 'IDT-2' }, list: [{ code: 'C-1' }] });
  });

  it('logs request paths without their query (codes and states travel there)', () => {
    const { lines, logger } = capture();
    logger.info(
      { req: { id: 1, method: 'GET', url: '/callback?code=CODE-1&state=STATE-1' } },
      'request',
    );
    const line = lines.join('');
    expect(line).toContain('"path":"/callback"');
    expect(line).not.toContain('CODE-1');
    expect(line).not.toContain('STATE-1');
  });

  it('logs a launch link without its state (the state is what binds a sign-in)', () => {
    const { lines, logger } = capture();
    const state = 'S'.repeat(43);
    logger.info({ req: { id: 1, method: 'GET', url: `/launch/${state}` } }, 'request');
    const line = lines.join('');
    expect(line).toContain('"path":"/launch/[redacted]"');
    expect(line).not.toContain(state);
  });
});
