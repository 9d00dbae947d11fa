import { describe, expect, it } from 'vitest';
import { checkReturnTo } from './return-to.ts';

const allow = ['https://app.example.org/connected', 'https://other.example.org/'];

describe('checkReturnTo', () => {
  it('allows URLs under an allowed prefix or origin', () => {
    expect(checkReturnTo('https://app.example.org/connected', allow)).toBe(
      'https://app.example.org/connected',
    );
    expect(checkReturnTo('https://app.example.org/connected/ok?x=1', allow)).toBe(
      'https://app.example.org/connected/ok?x=1',
    );
    expect(checkReturnTo('https://other.example.org/anything', allow)).toBe(
      'https://other.example.org/anything',
    );
  });

  it.each([
    'https://app.example.org/connectedevil',
    'https://app.example.org/other',
    'https://app.example.org.evil.com/connected',
    'http://app.example.org/connected',
    'https://user:pw@app.example.org/connected',
    'javascript:alert(1)',
    '//evil.example/x',
    '/relative',
  ])('refuses %s', (url) => {
    expect(() => checkReturnTo(url, allow)).toThrow(/returnTo/);
  });

  it('refuses everything when the allow-list is empty', () => {
    expect(() => checkReturnTo('https://app.example.org/connected', [])).toThrow(/allow-list/);
  });
});
