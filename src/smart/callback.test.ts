import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import { parseCallback } from './callback.ts';

function invalid(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return isBridgeError(err, 'invalid_request');
  }
}

describe('parseCallback', () => {
  it('returns the code and state', () => {
    expect(parseCallback({ code: 'c1', state: 's1' })).toEqual({
      kind: 'code',
      code: 'c1',
      state: 's1',
    });
    expect(parseCallback(new URLSearchParams('code=c%2F1&state=s1&iss=x'))).toEqual({
      kind: 'code',
      code: 'c/1',
      state: 's1',
    });
  });

  it('treats access_denied as an outcome with its state', () => {
    expect(
      parseCallback(
        new URLSearchParams('error=access_denied&error_description=Patient+declined&state=s1'),
      ),
    ).toEqual({
      kind: 'error',
      error: 'access_denied',
      errorDescription: 'Patient declined',
      state: 's1',
    });
    expect(parseCallback({ error: 'server_error', state: undefined })).toEqual({
      kind: 'error',
      error: 'server_error',
      errorDescription: undefined,
      state: undefined,
    });
  });

  it('refuses malformed callbacks', () => {
    expect(invalid(() => parseCallback({}))).toBe(true);
    expect(invalid(() => parseCallback({ code: 'c' }))).toBe(true);
    expect(invalid(() => parseCallback({ code: '', state: 's' }))).toBe(true);
    expect(invalid(() => parseCallback({ code: 'c', error: 'access_denied', state: 's' }))).toBe(
      true,
    );
    expect(invalid(() => parseCallback(new URLSearchParams('code=a&code=b&state=s')))).toBe(true);
    expect(invalid(() => parseCallback({ code: ['a', 'b'], state: 's' }))).toBe(true);
    expect(invalid(() => parseCallback({ code: { x: 1 }, state: 's' }))).toBe(true);
  });

  it('never echoes the code in its errors', () => {
    let error: unknown;
    try {
      parseCallback({ code: 'secret-code-value' });
    } catch (err) {
      error = err;
    }
    // It must refuse (no state), and say so without the code.
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).not.toContain('secret-code-value');
  });
});
