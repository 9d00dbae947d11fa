import { describe, expect, it } from 'vitest';
import { rewriteBundleUrls } from './bundle-text.ts';

const FOREIGN = 'http://fhir4.eclinicalworks.com/fhir/r4/JAFJCD';
const OURS = 'https://bridge.example/api/connections/con_1/fhir';

/** Moves the foreign host's URLs onto ours; drops links named `drop-me`. */
const onto = {
  link: (url: string) => (url.includes('drop-me') ? null : url.replace(FOREIGN, OURS)),
  fullUrl: (url: string) => url.replace(FOREIGN, OURS),
};

// HAPI's pretty-printed layout, a decimal with a trailing zero, keys in no sorted order.
const PAGE = `{
  "resourceType": "Bundle",
  "id": "b1",
  "meta": {
    "lastUpdated": "2025-01-02T10:00:00.000-05:00"
  },
  "type": "searchset",
  "total": 2,
  "link": [ {
    "relation": "self",
    "url": "${FOREIGN}/Observation?patient=p1&category=vital-signs"
  }, {
    "relation": "next",
    "url": "${FOREIGN}?_getpages=abc&_getpagesoffset=50&_count=50&_bundletype=searchset"
  } ],
  "entry": [ {
    "fullUrl": "${FOREIGN}/Observation/o1",
    "resource": {
      "resourceType": "Observation",
      "id": "o1",
      "valueQuantity": {
        "value": 1.0,
        "unit": "mmol/L"
      },
      "link": [ { "url": "${FOREIGN}/untouched" } ],
      "fullUrl": "${FOREIGN}/not-an-entry"
    },
    "search": {
      "mode": "match"
    }
  }, {
    "resource": {
      "resourceType": "Observation",
      "id": "o2",
      "valueQuantity": { "value": 120.50e0 }
    },
    "fullUrl": "${FOREIGN}/Observation/o2"
  } ]
}`;

describe('rewriteBundleUrls', () => {
  it('rewrites link urls and entry fullUrls and leaves every other byte as it was', () => {
    const out = rewriteBundleUrls(PAGE, onto);
    const expected = PAGE.replace(
      `"url": "${FOREIGN}/Observation?patient`,
      `"url": "${OURS}/Observation?patient`,
    )
      .replace(`"url": "${FOREIGN}?_getpages`, `"url": "${OURS}?_getpages`)
      .replace(`"fullUrl": "${FOREIGN}/Observation/o1"`, `"fullUrl": "${OURS}/Observation/o1"`)
      .replace(`"fullUrl": "${FOREIGN}/Observation/o2"`, `"fullUrl": "${OURS}/Observation/o2"`);
    expect(out).toBe(expected);
    expect(out).toContain('"value": 1.0,');
    expect(out).toContain('"value": 120.50e0');
    // Inside resources, `link` and `fullUrl` are data, not the Bundle's: untouched.
    expect(out).toContain(`"url": "${FOREIGN}/untouched"`);
    expect(out).toContain(`"fullUrl": "${FOREIGN}/not-an-entry"`);
  });

  it('leaves out a dropped link with its separator, keeping the others as written', () => {
    const text = `{"resourceType":"Bundle","link":[{"relation":"previous","url":"drop-me"}, {"relation":"self","url":"${FOREIGN}/A"} ,{"relation":"other","url":"drop-me"},  {"relation":"next","url":"${FOREIGN}/B"}],"total":1.0}`;
    expect(rewriteBundleUrls(text, onto)).toBe(
      `{"resourceType":"Bundle","link":[{"relation":"self","url":"${OURS}/A"},  {"relation":"next","url":"${OURS}/B"}],"total":1.0}`,
    );
    const onlyDropped = `{"resourceType":"Bundle","link": [ {"url":"drop-me"} ] }`;
    expect(rewriteBundleUrls(onlyDropped, onto)).toBe(`{"resourceType":"Bundle","link": [] }`);
  });

  it('keeps escapes, unicode and a byte order mark as written', () => {
    const text = `\uFEFF{"resourceType":"Bundle","note":"a \\"quoted\\" \\u00e9 é \\/","link":[{"url":"${FOREIGN}/A?x=\\u0026"}]}`;
    expect(rewriteBundleUrls(text, onto)).toBe(
      `\uFEFF{"resourceType":"Bundle","note":"a \\"quoted\\" \\u00e9 é \\/","link":[{"url":"${OURS}/A?x=&"}]}`,
    );
  });

  it('is undefined for anything but a Bundle, and refuses text that is not JSON', () => {
    expect(rewriteBundleUrls('{"resourceType":"Patient","link":[]}', onto)).toBeUndefined();
    expect(rewriteBundleUrls('[1, 2.0]', onto)).toBeUndefined();
    expect(() => rewriteBundleUrls('{"resourceType":"Bundle",}', onto)).toThrow(SyntaxError);
    expect(() => rewriteBundleUrls('{"resourceType":"Bundle"} x', onto)).toThrow(SyntaxError);
    expect(() => rewriteBundleUrls('{"resourceType":"Bundle', onto)).toThrow(SyntaxError);
  });
});
