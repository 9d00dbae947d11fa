import { describe, expect, it } from 'vitest';
import { createLogger } from '../common/logger.ts';
import type { EventRecord } from '../store/port.ts';
import { createErrorPage, PAGE_ERROR_EVENT, supportReference } from './routes.ts';

function setUp() {
  const lines: Record<string, unknown>[] = [];
  const events: EventRecord[] = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (line: string) => lines.push(JSON.parse(line)) },
  });
  const errorPage = createErrorPage({
    logger,
    events: { append: async (e) => void events.push(e) },
    clock: { now: () => 1_000 },
    reference: () => 'K7QX-93MD',
  });
  return { lines, events, errorPage };
}

describe('the patient error page', () => {
  it('shows a reference instead of the technical detail, which goes to the log and an event', () => {
    const { lines, events, errorPage } = setUp();
    const detail = 'id_token aud "someone-else" is not the client id';
    const body = errorPage({ status: 502, code: 'invalid_id_token', message: detail } as never);
    expect(body).toContain('K7QX-93MD');
    expect(body).not.toContain('someone-else');
    expect(body).not.toContain('Details for support');
    const expected = { reference: 'K7QX-93MD', error: 'invalid_id_token', status: 502, detail };
    expect(lines).toContainEqual(expect.objectContaining(expected));
    expect(events).toEqual([
      expect.objectContaining({ type: PAGE_ERROR_EVENT, connectionId: null, data: expected }),
    ]);
  });

  it('keeps a page that does not exist out of the events', () => {
    const { events, errorPage } = setUp();
    errorPage({ status: 404, code: 'not_found', message: 'no route for GET /connect/x' });
    expect(events).toEqual([]);
  });

  it('keeps made-up sign-in failures as events only up to the rate, then in the log alone', () => {
    const { lines, events, errorPage } = setUp();
    const madeUp = { status: 400, code: 'invalid_state', message: 'used or expired' } as never;
    for (let i = 0; i < 35; i += 1) errorPage(madeUp);
    expect(events).toHaveLength(30);
    expect(lines.filter((line) => line.error === 'invalid_state')).toHaveLength(35);
  });

  it('makes references a patient can read out', () => {
    expect(supportReference()).toMatch(/^[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}$/);
    expect(supportReference(Buffer.alloc(8, 0))).toBe('2222-2222');
  });
});
