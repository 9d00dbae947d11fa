import { describe, expect, it } from 'vitest';
import { entryResourceTexts, rewriteBundleUrls } from './bundle-text.ts';

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

describe('entryResourceTexts', () => {
  it('cuts each entry resource out of the text, keeping decimals, escapes and key order', () => {
    const text = `{
  "resourceType": "Bundle",
  "entry": [
    {
      "fullUrl": "http://x/Observation/1",
      "resource": {
        "resourceType": "Observation", "id": "1",
        "valueQuantity": { "value": 98.60, "unit": "[degF]" },
        "note": [ { "text": "caf\\u00e9 \\"quoted\\" {not: structure} \\\\" } ],
        "2": "integer-like key stays where it was"
      },
      "search": { "mode": "match" }
    },
    { "search": { "mode": "outcome" } },
    { "resource": { "resourceType": "Patient", "id": "p", "a": [1e3, -0.0, true, null] } }
  ],
  "link": [ { "relation": "next", "url": "http://x?_getpages=1" } ]
}`;
    expect(entryResourceTexts(text)).toEqual([
      '{"resourceType":"Observation","id":"1","valueQuantity":{"value":98.60,"unit":"[degF]"},"note":[{"text":"caf\\u00e9 \\"quoted\\" {not: structure} \\\\"}],"2":"integer-like key stays where it was"}',
      undefined,
      '{"resourceType":"Patient","id":"p","a":[1e3,-0.0,true,null]}',
    ]);
    // What JSON.parse + JSON.stringify would have lost:
    const parsed = JSON.parse(text).entry[0].resource;
    expect(JSON.stringify(parsed)).not.toContain('98.60');
  });

  it('is byte-identical for compact input', () => {
    const resource = '{"resourceType":"Condition","id":"c.1-x","code":{"text":"a b"}}';
    const text = `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":${resource}}]}`;
    expect(entryResourceTexts(text)).toEqual([resource]);
  });

  it('answers nothing for a Bundle without entries, and ignores "resource" keys elsewhere', () => {
    expect(entryResourceTexts('{"resourceType":"Bundle","total":50}')).toEqual([]);
    const text =
      '{"meta":{"entry":[{"resource":{"id":"decoy"}}]},"entry":[{"resource":{"id":"real","contained":[{"resource":1}]}}]}';
    expect(entryResourceTexts(text)).toEqual(['{"id":"real","contained":[{"resource":1}]}']);
  });

  it('takes the last of repeated entry keys, as JSON.parse does', () => {
    const text = '{"entry":[{"resource":{"id":"first"}}],"entry":[{"resource":{"id":"second"}}]}';
    expect(entryResourceTexts(text)).toEqual(['{"id":"second"}']);
  });

  it('refuses text that is not a JSON object', () => {
    expect(() => entryResourceTexts('[1,2]')).toThrow(SyntaxError);
    expect(() => entryResourceTexts('{"entry":[{"resource":{"id":"x"}')).toThrow(SyntaxError);
    expect(() => entryResourceTexts('{"entry": [{"resource": "unterminated}]}')).toThrow(
      SyntaxError,
    );
  });
});
