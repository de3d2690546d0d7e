/**
 * Seeded pseudo-random numbers: xoshiro128** (Blackman & Vigna) seeded through splitmix32.
 * Small, fast, and with a well-known output stream, so a seed printed by a failing test or
 * stored in an event reproduces the same draws. Every function that samples takes an `Rng`
 * argument; nothing in specstream calls `Math.random` for results.
 */
export interface Rng {
  /** A uniform float in [0, 1) with 32 bits of randomness. */
  next(): number;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** xoshiro128** generator. */
export class Xoshiro128 implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /**
   * @param seed any integer (the low 32 bits) and an optional stream number, so that row `i` of a
   *   batch can draw from `new Xoshiro128(seed, i)` independently of the batch's other rows.
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isFinite(seed) || !Number.isFinite(stream)) {
      throw new Error(`Xoshiro128: seed and stream must be finite numbers; got ${seed}, ${stream}`);
    }
    const sm = splitmix32((Math.trunc(seed) ^ Math.imul(Math.trunc(stream) + 1, 0x27d4eb2f)) >>> 0);
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1;
  }

  /** The next raw 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c = (this.c ^ t) >>> 0;
    this.d = rotl(this.d >>> 0, 11);
    this.a >>>= 0;
    this.b >>>= 0;
    return result;
  }

  next(): number {
    return this.nextUint32() / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A standard normal draw (Box–Muller) from a uniform source. */
export function normal(rng: Rng): number {
  let u = 0;
  while (u === 0) u = rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A fresh seed for tests that print it on failure: from the env var `SPECSTREAM_SEED` or the clock. */
export function testSeed(): number {
  const env = process.env['SPECSTREAM_SEED'];
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n)) throw new Error(`SPECSTREAM_SEED must be an integer; got "${env}"`);
    return n;
  }
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}
