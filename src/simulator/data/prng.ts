// The data generator's one source of randomness: a seeded PRNG (sfc32 over a cyrb128 string
// hash), so the same seed always yields the same patients, ids and directory. Never Math.random.

/** cyrb128: a fast 128-bit string hash (four 32-bit words); not cryptographic, just well mixed. */
export function hash128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

export interface Prng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  /** Uniform in [min, max). */
  float(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(probability: number): boolean;
  /** Normally distributed (Box-Muller). */
  normal(mean: number, sd: number): number;
}

/** A PRNG seeded by the joined parts (e.g. seed, practice, patient, what). */
export function createPrng(...parts: readonly (string | number)[]): Prng {
  return new Sfc32(hash128(parts.join('\u241f')));
}

/** sfc32 (Chris Doty-Humphrey's Small Fast Counting generator); a class so instances are cheap. */
class Sfc32 implements Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor([a, b, c, d]: [number, number, number, number]) {
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
    // Discard the first outputs: sfc32's state needs a few rounds to mix a weak seed.
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const t0 = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    const t = (t0 + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  float(min: number, max: number): number {
    return min + this.next() * (max - min);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  normal(mean: number, sd: number): number {
    const u = 1 - this.next();
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

const ALPHANUMERIC = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * A healow-like resource id: 43 to 64 characters of letters and digits with a `.` and a `-`
 * (as observed), so a valid FHIR id ([A-Za-z0-9.-]{1,64}). Deterministic in its parts.
 */
export function opaqueId(...parts: readonly (string | number)[]): string {
  const prng = createPrng('id', ...parts);
  const length = prng.int(41, 62);
  // Built from char codes in one go: a string grown by `+=` stays a rope of many nodes in V8.
  const codes: number[] = [];
  for (let i = 0; i < length; i++) {
    if (i === 12) codes.push(46); // '.'
    if (i === 28) codes.push(45); // '-'
    codes.push(ALPHANUMERIC.charCodeAt(Math.floor(prng.next() * ALPHANUMERIC.length)));
  }
  return String.fromCharCode(...codes);
}
