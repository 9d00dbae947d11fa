import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import { nextLink, parseBundle } from './bundles.ts';

const refusal = (body: unknown) => {
  try {
    parseBundle(body, 'GET x');
  } catch (error) {
    if (isBridgeError(error, 'upstream_error')) return error.message;
    throw error;
  }
  throw new Error('expected a refusal');
};

describe('parseBundle', () => {
  it('takes a Bundle as it is, without copying it', () => {
    const body = {
      resourceType: 'Bundle',
      link: [{ relation: 'next', url: 'http://x?_getpages=1' }],
      entry: [{ resource: { resourceType: 'Condition', id: 'c1' }, search: { mode: 'match' } }, {}],
      total: 50,
    };
    expect(parseBundle(body, 'GET x')).toBe(body);
    expect(nextLink(parseBundle(body, 'GET x'))).toBe('http://x?_getpages=1');
  });

  it('refuses what paging cannot rely on, and names an OperationOutcome sent instead', () => {
    expect(refusal({ resourceType: 'Patient' })).toBe(
      'GET x: expected a Bundle, got something else',
    );
    expect(refusal({ resourceType: 'Bundle', link: [{ relation: 'next' }] })).toMatch(
      /expected a Bundle/,
    );
    expect(refusal({ resourceType: 'Bundle', link: {} })).toMatch(/expected a Bundle/);
    expect(refusal({ resourceType: 'Bundle', entry: [{ resource: { id: 'x' } }] })).toMatch(
      /expected a Bundle/,
    );
    expect(refusal({ resourceType: 'Bundle', entry: [{ search: { mode: 1 } }] })).toMatch(
      /expected a Bundle/,
    );
    expect(refusal({ resourceType: 'Bundle', entry: [null] })).toMatch(/expected a Bundle/);
    expect(
      refusal({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'processing', diagnostics: 'no such search' }],
      }),
    ).toBe('GET x: expected a Bundle, got an OperationOutcome: no such search');
  });
});
