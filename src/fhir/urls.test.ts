import { describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import { assertPinned, parseBase, rebaseLink, relativeToBase, resolveOnBase } from './urls.ts';

const base = parseBase('https://fhir4.healow.com/fhir/r4/JAFJCD');

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isBridgeError(error) ? error.code : 'not a BridgeError';
  }
  return undefined;
}

describe('parseBase', () => {
  it('strips a trailing slash and refuses http unless allowed', () => {
    expect(parseBase('https://x.test/fhir/r4/ABC/').path).toBe('/fhir/r4/ABC');
    expect(codeOf(() => parseBase('http://x.test/fhir'))).toBe('host_not_allowed');
    expect(parseBase('http://127.0.0.1:1/fhir', true).path).toBe('/fhir');
    expect(codeOf(() => parseBase('https://u:p@x.test/fhir'))).toBe('invalid_config');
    expect(codeOf(() => parseBase('not a url'))).toBe('invalid_config');
  });
});

describe('rebaseLink', () => {
  it("moves healow's http link on another host onto our base, keeping path and query", () => {
    const url = rebaseLink(
      base,
      'http://fhir4.eclinicalworks.com/fhir/r4/JAFJCD?_getpages=abc-1&_getpagesoffset=50&_count=50',
    );
    expect(url.href).toBe(
      'https://fhir4.healow.com/fhir/r4/JAFJCD?_getpages=abc-1&_getpagesoffset=50&_count=50',
    );
    expect(rebaseLink(base, 'http://other.test/fhir/r4/JAFJCD/Observation?page=2').href).toBe(
      'https://fhir4.healow.com/fhir/r4/JAFJCD/Observation?page=2',
    );
  });

  it('resolves a relative link against the base', () => {
    expect(rebaseLink(base, 'Observation?page=3').href).toBe(
      'https://fhir4.healow.com/fhir/r4/JAFJCD/Observation?page=3',
    );
  });

  it('refuses links outside the base path, traversals and other schemes', () => {
    expect(codeOf(() => rebaseLink(base, 'https://fhir4.healow.com/fhir/r4/OTHER?x=1'))).toBe(
      'host_not_allowed',
    );
    // A prefix that is not a path segment boundary is not "under" the base.
    expect(codeOf(() => rebaseLink(base, 'https://evil.test/fhir/r4/JAFJCDX/Patient'))).toBe(
      'host_not_allowed',
    );
    expect(codeOf(() => rebaseLink(base, 'https://evil.test/fhir/r4/JAFJCD/../X'))).toBe(
      'host_not_allowed',
    );
    expect(codeOf(() => rebaseLink(base, 'javascript:alert(1)'))).toBe('host_not_allowed');
  });
});

describe('assertPinned and resolveOnBase', () => {
  it('allows the base origin under its path only', () => {
    expect(
      codeOf(() =>
        assertPinned(base, new URL('https://fhir4.healow.com/fhir/r4/JAFJCD/Patient/1')),
      ),
    ).toBe(undefined);
    expect(codeOf(() => assertPinned(base, new URL('https://evil.test/fhir/r4/JAFJCD')))).toBe(
      'host_not_allowed',
    );
    expect(
      codeOf(() => assertPinned(base, new URL('http://fhir4.healow.com/fhir/r4/JAFJCD'))),
    ).toBe('host_not_allowed');
    expect(
      codeOf(() => assertPinned(base, new URL('https://fhir4.healow.com/fhir/r4/OTHER'))),
    ).toBe('host_not_allowed');
  });

  it('cannot be escaped with dot segments, encoded or not', () => {
    expect(codeOf(() => resolveOnBase(base, '../OTHER/Patient'))).toBe('host_not_allowed');
    expect(codeOf(() => resolveOnBase(base, '%2e%2e/OTHER/Patient'))).toBe('host_not_allowed');
    expect(resolveOnBase(base, '//evil.test/x').origin).toBe('https://fhir4.healow.com');
    expect(resolveOnBase(base, '?_getpages=1').href).toBe(
      'https://fhir4.healow.com/fhir/r4/JAFJCD?_getpages=1',
    );
  });

  it('names requests relative to the base', () => {
    expect(relativeToBase(base, resolveOnBase(base, 'Observation?patient=1'))).toBe(
      'Observation?patient=1',
    );
    expect(relativeToBase(base, resolveOnBase(base, '?_getpages=1'))).toBe('?_getpages=1');
  });
});
