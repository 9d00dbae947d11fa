// FHIR JSON as the server writes it: pretty-printed with two spaces (HAPI's style, healow) or
// compact (the generic profile), and decimals with the precision the data carries (`1.0` stays
// `1.0`, which JSON.stringify alone would write as `1`).

import { DECIMAL_TEXT } from '../data/fhir.ts';

/** Marks a decimal during stringify; the NUL keeps it apart from any real string value. */
const MARK = '\u0000decimal:';
const MARKED = /"\\u0000decimal:(-?\d+(?:\.\d+)?)"/g;

export function serializeFhir(body: unknown, pretty: boolean): string {
  const text = JSON.stringify(
    body,
    function (this: Record<PropertyKey, unknown>, key: string, value: unknown) {
      if (key === 'value' && typeof value === 'number') {
        const decimal = this[DECIMAL_TEXT];
        if (typeof decimal === 'string' && Number(decimal) === value) return `${MARK}${decimal}`;
      }
      return value;
    },
    pretty ? 2 : undefined,
  );
  return text.replace(MARKED, '$1');
}
