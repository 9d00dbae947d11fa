// Local time the way healow writes it: every timestamp carries the practice's local offset
// (`2024-03-05T10:22:31.000-05:00`), with US daylight
// saving time. Also parses FHIR date search values into instant ranges.

/** A US time zone: its standard offset in minutes and whether it observes daylight saving time. */
export interface UsTimeZone {
  standardOffsetMin: number;
  dst: boolean;
}

const EASTERN: UsTimeZone = { standardOffsetMin: -300, dst: true };
const CENTRAL: UsTimeZone = { standardOffsetMin: -360, dst: true };
const MOUNTAIN: UsTimeZone = { standardOffsetMin: -420, dst: true };
const ARIZONA: UsTimeZone = { standardOffsetMin: -420, dst: false };
const PACIFIC: UsTimeZone = { standardOffsetMin: -480, dst: true };
const ALASKA: UsTimeZone = { standardOffsetMin: -540, dst: true };
const HAWAII: UsTimeZone = { standardOffsetMin: -600, dst: false };

const ZONE_BY_STATE: Record<string, UsTimeZone> = {
  ...Object.fromEntries(
    'AL AR IA IL KS LA MN MO MS ND NE OK SD TN TX WI'.split(' ').map((s) => [s, CENTRAL]),
  ),
  ...Object.fromEntries('CO ID MT NM UT WY'.split(' ').map((s) => [s, MOUNTAIN])),
  ...Object.fromEntries('CA NV OR WA'.split(' ').map((s) => [s, PACIFIC])),
  AZ: ARIZONA,
  AK: ALASKA,
  HI: HAWAII,
};

/** The zone of a US state (two-letter code); Eastern when unknown, like eCW's home in MA. */
export function timeZoneOfState(state: string): UsTimeZone {
  return ZONE_BY_STATE[state.trim().toUpperCase()] ?? EASTERN;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Day of month of the n-th Sunday of a month (UTC calendar arithmetic). */
function nthSunday(year: number, month: number, n: number): number {
  const firstWeekday = new Date(Date.UTC(year, month, 1)).getUTCDay();
  return 1 + ((7 - firstWeekday) % 7) + 7 * (n - 1);
}

/** Offset from UTC in minutes at an instant: US rules since 2007 (2nd Sunday of March to 1st of November, 02:00 local). */
export function offsetAt(utcMs: number, zone: UsTimeZone): number {
  if (!zone.dst) return zone.standardOffsetMin;
  const year = new Date(utcMs).getUTCFullYear();
  const std = zone.standardOffsetMin * 60_000;
  const start = Date.UTC(year, 2, nthSunday(year, 2, 2), 2) - std;
  const end = Date.UTC(year, 10, nthSunday(year, 10, 1), 2) - std - HOUR;
  return utcMs >= start && utcMs < end ? zone.standardOffsetMin + 60 : zone.standardOffsetMin;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function offsetText(offsetMin: number): string {
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** `2024-03-05T10:22:31.000-05:00` (instant with milliseconds, as in `meta.lastUpdated`). */
export function formatInstant(utcMs: number, zone: UsTimeZone): string {
  return formatLocal(utcMs, zone, true);
}

/** `2024-03-05T10:22:31-05:00` (dateTime, seconds). */
export function formatDateTime(utcMs: number, zone: UsTimeZone): string {
  return formatLocal(utcMs, zone, false);
}

function formatLocal(utcMs: number, zone: UsTimeZone, millis: boolean): string {
  const offsetMin = offsetAt(utcMs, zone);
  const d = new Date(utcMs + offsetMin * 60_000);
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const ms = millis ? `.${pad(d.getUTCMilliseconds(), 3)}` : '';
  return `${date}T${time}${ms}${offsetText(offsetMin)}`;
}

/** `2024-03-05`: the local calendar date. */
export function formatDate(utcMs: number, zone: UsTimeZone): string {
  return formatDateTime(utcMs, zone).slice(0, 10);
}

/** Local midnight of a calendar date, as a UTC instant. */
export function localMidnight(year: number, month0: number, day: number, zone: UsTimeZone): number {
  const guess = Date.UTC(year, month0, day);
  return guess - offsetAt(guess + 12 * HOUR, zone) * 60_000;
}

/** Half-open instant range [start, end) covered by a FHIR date/dateTime/instant value. */
export interface InstantRange {
  start: number;
  end: number;
}

const FHIR_DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The range a FHIR date value covers at its precision (FHIR R4 §2.21.0.8 "date"): `2024` is the
 * whole year, `2024-03-05T10:22:31-05:00` one second. Values without an offset are read in the
 * practice's zone. Returns undefined for a malformed value.
 */
export function parseFhirDate(text: string, zone: UsTimeZone): InstantRange | undefined {
  // A `+` offset arrives as a space when the client forgot to percent-encode it.
  const m = FHIR_DATE.exec(text.trim().replace(' ', '+'));
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const year = Number(y);
  if (mo === undefined) {
    return { start: localMidnight(year, 0, 1, zone), end: localMidnight(year + 1, 0, 1, zone) };
  }
  const month0 = Number(mo) - 1;
  if (month0 < 0 || month0 > 11) return undefined;
  if (d === undefined) {
    return {
      start: localMidnight(year, month0, 1, zone),
      end: localMidnight(year, month0 + 1, 1, zone),
    };
  }
  const day = Number(d);
  if (day < 1 || day > 31) return undefined;
  if (h === undefined) {
    const start = localMidnight(year, month0, day, zone);
    return { start, end: localMidnight(year, month0, day + 1, zone) };
  }
  const hours = Number(h);
  const minutes = Number(mi);
  const seconds = s === undefined ? 0 : Number(s);
  if (hours > 23 || minutes > 59 || seconds > 60) return undefined;
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  const wall = Date.UTC(year, month0, day, hours, minutes, seconds, ms);
  let offsetMin: number;
  if (tz === undefined) offsetMin = offsetAt(wall, zone);
  else if (tz === 'Z') offsetMin = 0;
  else
    offsetMin = (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  const start = wall - offsetMin * 60_000;
  const precision = frac !== undefined ? 1 : s !== undefined ? 1000 : 60_000;
  return { start, end: start + precision };
}

export const MS = { HOUR, DAY, YEAR: 365.2425 * DAY } as const;
