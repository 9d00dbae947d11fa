// FHIR date, dateTime and instant values as the instant ranges they cover (FHIR R4 §2.24.0.5:
// `2024` is the whole year, `2024-03-01T10:00:00-05:00` one second), for `_lastUpdated` and
// `date` searches over the stored record. A value without an offset is taken as UTC.

export interface InstantRange {
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive. */
  end: number;
}

/** Stand-ins for an open Period end: SQLite integers have no infinity. */
export const OPEN_START = -8_640_000_000_000_000;
export const OPEN_END = 8_640_000_000_000_000;

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$/;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?$/;

/** The range of a FHIR date/dateTime/instant text; undefined when it is not one. */
export function parseFhirDate(text: string): InstantRange | undefined {
  const value = text.trim();
  const date = DATE.exec(value);
  if (date) {
    const year = Number(date[1]);
    if (date[2] === undefined)
      return { start: Date.UTC(year, 0, 1), end: Date.UTC(year + 1, 0, 1) };
    const month = Number(date[2]) - 1;
    if (month < 0 || month > 11) return undefined;
    if (date[3] === undefined)
      return { start: Date.UTC(year, month, 1), end: Date.UTC(year, month + 1, 1) };
    const day = Number(date[3]);
    const start = Date.UTC(year, month, day);
    if (new Date(start).getUTCDate() !== day) return undefined;
    return { start, end: start + 86_400_000 };
  }
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone] = m;
  if (!parseFhirDate(`${y}-${mo}-${d}`)) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) return undefined;
  let offsetMs = 0;
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMs = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  const ms = fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * 1000);
  const local = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    s === undefined ? 0 : Number(s),
    ms,
  );
  if (Number.isNaN(local)) return undefined;
  const start = local - offsetMs;
  // The precision given is the range: a minute, a second, or a millisecond.
  const width = s === undefined ? 60_000 : fraction === undefined ? 1000 : 1;
  return { start, end: start + width };
}

/** A dateTime or a Period as a range; an open Period end extends without bound. */
export function rangeOfValue(value: unknown): InstantRange | undefined {
  if (typeof value === 'string') return parseFhirDate(value);
  if (value && typeof value === 'object') {
    const { start, end } = value as { start?: unknown; end?: unknown };
    const s = typeof start === 'string' ? parseFhirDate(start) : undefined;
    const e = typeof end === 'string' ? parseFhirDate(end) : undefined;
    if (!s && !e) return undefined;
    return { start: s?.start ?? OPEN_START, end: e?.end ?? OPEN_END };
  }
  return undefined;
}
