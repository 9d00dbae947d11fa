import { describe, expect, it } from 'vitest';
import {
  base64Size,
  checkDeclared,
  contentTypeAllowed,
  DEFAULT_ATTACHMENT_POLICY,
} from './binary.ts';

describe('attachment policy', () => {
  it('allows listed media types and families, parameters ignored', () => {
    expect(contentTypeAllowed(DEFAULT_ATTACHMENT_POLICY, 'application/pdf')).toBe(true);
    expect(contentTypeAllowed(DEFAULT_ATTACHMENT_POLICY, 'Text/HTML; charset=utf-8')).toBe(true);
    expect(contentTypeAllowed(DEFAULT_ATTACHMENT_POLICY, 'image/jpeg')).toBe(true);
    expect(contentTypeAllowed(DEFAULT_ATTACHMENT_POLICY, 'application/zip')).toBe(false);
    expect(contentTypeAllowed(DEFAULT_ATTACHMENT_POLICY, 'application/x-msdownload')).toBe(false);
  });

  it('checks what an attachment declares before any call', () => {
    const policy = { ...DEFAULT_ATTACHMENT_POLICY, maxBytes: 100 };
    expect(checkDeclared(policy, { contentType: 'text/plain', declaredSize: 100 })).toBeUndefined();
    expect(checkDeclared(policy, { contentType: null, declaredSize: null })).toBeUndefined();
    expect(checkDeclared(policy, { contentType: 'text/plain', declaredSize: 101 })).toContain(
      'cap',
    );
    expect(checkDeclared(policy, { contentType: 'video/mp4', declaredSize: 1 })).toContain(
      'not allowed',
    );
  });

  it('sizes base64 without decoding it', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 1000]) {
      expect(base64Size(Buffer.alloc(n, 7).toString('base64'))).toBe(n);
    }
  });
});
