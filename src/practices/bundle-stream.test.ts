import { describe, expect, it } from 'vitest';
import { BundleEntryReader, JsonStreamError } from './bundle-stream.ts';

/** Feeds `text` in chunks of `size` characters; returns the entries and the top-level members. */
function read(text: string, size = text.length) {
  const reader = new BundleEntryReader();
  const entries: unknown[] = [];
  for (let i = 0; i < text.length; i += size)
    entries.push(...reader.write(text.slice(i, i + size)));
  return { entries, top: reader.end() };
}

function failure(text: string, size?: number): JsonStreamError {
  try {
    read(text, size);
  } catch (error) {
    if (error instanceof JsonStreamError) return error;
    throw error;
  }
  throw new Error('expected a JsonStreamError');
}

const tricky = {
  resourceType: 'Bundle',
  meta: { tag: [{ code: 'a]b}c' }] },
  entry: [
    { resource: { resourceType: 'Endpoint', id: 'A', name: 'Quote " and \\ and ] and }' } },
    {
      resource: { resourceType: 'Organization', id: 'A', name: 'Zoë\u2028São', nested: [[{}], []] },
    },
    'a string entry',
    42,
    null,
    [1, [2, { three: 3 }]],
  ],
  total: 6,
  type: 'collection',
};

describe('BundleEntryReader', () => {
  const text = JSON.stringify(tricky, null, 2);

  it('hands out every entry and the other members, whatever the chunk size', () => {
    for (const size of [1, 2, 3, 7, 64, text.length]) {
      const { entries, top } = read(text, size);
      expect(entries, `chunk size ${size}`).toEqual(tricky.entry);
      expect(top).toEqual({
        fields: { resourceType: 'Bundle', meta: tricky.meta, total: 6, type: 'collection' },
        entry: 'array',
        entries: 6,
      });
    }
  });

  it('returns entries as soon as their text is complete', () => {
    const reader = new BundleEntryReader();
    expect(reader.write('{"entry":[{"a":1},{"b"')).toEqual([{ a: 1 }]);
    expect(reader.write(':2}')).toEqual([{ b: 2 }]);
    expect(reader.write(']}')).toEqual([]);
    expect(reader.end().entries).toBe(2);
  });

  it('accepts a byte-order mark, an empty entry array, and members after the entries', () => {
    expect(read('\uFEFF {"entry":[],"resourceType":"Bundle"}\n').top).toEqual({
      fields: { resourceType: 'Bundle' },
      entry: 'array',
      entries: 0,
    });
    expect(read('{"resourceType":"Bundle"}').top.entry).toBe('absent');
    expect(read('{"entry":{"x":1}}').top.entry).toBe('not-array');
  });

  it('names what is wrong and where', () => {
    expect(failure('').message).toBe('empty input at character 0');
    expect(failure('hello').message).toBe('expected a JSON object at character 0');
    expect(failure('  [1,2]').message).toBe(
      'expected a JSON object, found an array at character 2',
    );
    expect(failure('{"entry":[{"a":1}').message).toBe('unexpected end of input at character 17');
    expect(failure('{"entry":[{"a":1}]} x').message).toMatch(/after the end .* character 20/);
    expect(failure('{"a" 1}').message).toBe("expected ':' at character 5");
    expect(failure('{"a":1 "b":2}').message).toBe("expected ',' or '}' at character 7");
    expect(failure('{"entry":[{"a":1} {"b":2}]}').message).toMatch(/expected ',' or '\]'/);
    expect(failure('{"entry":[,]}').message).toBe('expected a value at character 10');
    expect(failure('{,}').message).toBe('expected a member name at character 1');
  });

  it('reports invalid JSON inside an entry at its place in the whole input', () => {
    const error = failure('{"entry":[{"a":1},{"b":tru}]}', 5);
    expect(error.message).toMatch(/^invalid JSON at character \d+$/);
    expect(error.offset).toBeGreaterThanOrEqual(18);
    expect(failure('{"total":12x}').message).toBe('invalid JSON at character 11');
  });
});
