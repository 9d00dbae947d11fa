import { describe, expect, it } from 'vitest';
import {
  compactJson,
  compactValue,
  INCOMPLETE,
  JsonSyntaxError,
  readObject,
  skipValue,
  valueEnd,
} from './json-scan.ts';

describe('valueEnd', () => {
  it('finds the end of each kind of value, brackets and quotes inside strings ignored', () => {
    const value = JSON.stringify({ a: 'x]}"\\', b: [1, { c: '"} ]' }] }, null, 1);
    expect(valueEnd(`${value} rest`, 0)).toBe(value.length);
    expect(valueEnd('"a\\"b" ', 0)).toBe(6);
    expect(valueEnd('-1.5e3,', 0)).toBe(6);
    expect(valueEnd('true]', 0)).toBe(4);
  });

  it('says INCOMPLETE when the text ends before the value, a trailing number included', () => {
    expect(valueEnd('{"a":[1,2', 0)).toBe(INCOMPLETE);
    expect(valueEnd('"abc\\"', 0)).toBe(INCOMPLETE);
    expect(valueEnd('12', 0)).toBe(INCOMPLETE);
    expect(valueEnd('', 0)).toBe(INCOMPLETE);
  });

  it('refuses a delimiter where a value should start', () => {
    expect(() => valueEnd(',', 0)).toThrow(/expected a JSON value at offset 0/);
    expect(() => valueEnd(']', 0)).toThrow(JsonSyntaxError);
    // A malformed number or literal is JSON.parse's to judge: it runs to the next delimiter.
    expect(valueEnd('12x}', 0)).toBe(3);
  });
});

describe('readObject', () => {
  it('hands out each member with its decoded key and where its value starts', () => {
    const text = '{ "a" : 1 , "b\\u0021" : [2] }';
    const members: Array<[string, string]> = [];
    const end = readObject(text, 0, ({ key, valueStart }) => {
      const after = skipValue(text, valueStart);
      members.push([key, text.slice(valueStart, after)]);
      return after;
    });
    expect(members).toEqual([
      ['a', '1'],
      ['b!', '[2]'],
    ]);
    expect(end).toBe(text.length);
  });

  it('refuses a text that ends early or breaks the syntax, naming the offset', () => {
    const skip = (text: string) => () =>
      readObject(text, 0, ({ valueStart }) => skipValue(text, valueStart));
    expect(skip('{"a":1')).toThrow(/unexpected end of input at offset 5/);
    expect(skip('{"a" 1}')).toThrow(/expected ":" at offset 5/);
    expect(skip('{"a":1 "b":2}')).toThrow(/expected "," or "}" at offset 7/);
    expect(skip('{,}')).toThrow(/expected a member name at offset 1/);
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

describe('compactValue', () => {
  it('gives the value at an index without whitespace between tokens, and where it ends', () => {
    const text = '[ { "a" : [ 1 ,\n\t2 ], "b": " x  y ]" } , 3 ]';
    const at = text.indexOf('{');
    expect(compactValue(text, at)).toEqual({
      text: '{"a":[1,2],"b":" x  y ]"}',
      end: text.indexOf('}') + 1,
    });
  });

  it('agrees with skipValue and compactJson on every kind of value', () => {
    const text = '{"s":"a\\"b" , "n":-1.50e3 , "t":true, "o":{"x":[{}]}, "e":[ ]}';
    readObject(text, 0, ({ valueStart }) => {
      const end = skipValue(text, valueStart);
      expect(compactValue(text, valueStart)).toEqual({
        text: compactJson(text, valueStart, end),
        end,
      });
      return end;
    });
  });

  it('refuses a value the text ends inside', () => {
    expect(() => compactValue('{"a":[1, 2', 0)).toThrow(JsonSyntaxError);
    expect(() => compactValue('{"a":"b', 0)).toThrow(JsonSyntaxError);
  });
});
