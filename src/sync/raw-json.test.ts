import { describe, expect, it } from 'vitest';
import { compactJson, entryResourceTexts } from './raw-json.ts';

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

describe('compactJson', () => {
  it('removes whitespace between tokens only', () => {
    expect(compactJson('{ "a" : [ 1 ,\n\t2 ], "b": " x  y " }')).toBe('{"a":[1,2],"b":" x  y "}');
    expect(compactJson('{"a":"\\" "}')).toBe('{"a":"\\" "}');
  });

  it('returns the same string when there is nothing to remove', () => {
    const text = '{"a":1}';
    expect(compactJson(text)).toBe(text);
  });
});
