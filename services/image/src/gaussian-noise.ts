/**
 * Seeded Gaussian noise for the initial latents: xoshiro128** seeded through splitmix32 from a
 * 64-bit seed, and Box-Muller. Pure integer arithmetic and V8's deterministic `Math.log/cos/sin`,
 * so one seed gives the same bits on every run and every machine.
 */

/** Largest seed accepted: seeds travel as uint64 but must stay exact as a JS number. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/** A deterministic stream of standard normal samples for one seed. */
export class GaussianNoise {
  private readonly s = new Uint32Array(4);
  private spare: number | undefined;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be an integer in [0, ${MAX_SEED}]`);
    // Mix the low and high 32-bit halves of the seed into the four state words.
    let state = (seed >>> 0) ^ 0x6a09e667;
    const high = Math.floor(seed / 0x1_0000_0000) >>> 0;
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(state ^ (i === 1 ? high : 0));
      state = next;
      this.s[i] = out;
    }
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[0] = 1;
  }

  /** Next 32 random bits (xoshiro128**). */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in (0, 1], 53 bits. */
  nextUniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo + 1) / 9007199254740992;
  }

  /** One standard normal sample (Box-Muller; the second value of each pair is kept for the next call). */
  nextGaussian(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(this.nextUniform()));
    const theta = 2 * Math.PI * this.nextUniform();
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** `count` samples times `scale`, as float32. */
  fill(count: number, scale = 1): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.nextGaussian() * scale;
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
