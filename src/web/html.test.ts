import { describe, expect, it } from 'vitest';
import { html } from './html.ts';

describe('html', () => {
  it('escapes every interpolated value, including inside lists', () => {
    const name = '<script>alert("x")</script>';
    const out =
      html`<p title="${name}">${name}</p><ul>${['<b>', "'"].map((s) => html`<li>${s}</li>`)}</ul>`
        .value;
    expect(out).not.toContain('<script>');
    expect(out).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(out).toContain('<li>&lt;b&gt;</li><li>&#39;</li>');
  });
});
