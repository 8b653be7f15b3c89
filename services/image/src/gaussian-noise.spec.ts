import { describe, expect, it } from 'vitest';
import { GaussianNoise, MAX_SEED } from './gaussian-noise.js';

describe('GaussianNoise', () => {
  it('gives the same samples for the same seed and different ones for another seed', () => {
    const a = new GaussianNoise(42).fill(1000);
    expect(Buffer.from(a.buffer).equals(Buffer.from(new GaussianNoise(42).fill(1000).buffer))).toBe(true);
    const b = new GaussianNoise(43).fill(1000);
    expect(a.filter((v, i) => v === b[i]).length).toBeLessThan(5);
    // Seeds that differ only in the high 32 bits differ too.
    const c = new GaussianNoise(42 + 2 ** 32).fill(1000);
    expect(a.filter((v, i) => v === c[i]).length).toBeLessThan(5);
  });

  it('is standard normal: mean 0, variance 1, symmetric tails', () => {
    const x = new GaussianNoise(7).fill(200_000);
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length;
    const beyond2 = x.filter((v) => Math.abs(v) > 2).length / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.01);
    expect(Math.abs(beyond2 - 0.0455)).toBeLessThan(0.003);
  });

  it('scales and refuses seeds it cannot represent exactly', () => {
    const unit = new GaussianNoise(5).fill(10);
    const scaled = new GaussianNoise(5).fill(10, 3);
    unit.forEach((v, i) => expect(scaled[i]).toBeCloseTo(v * 3, 5));
    expect(() => new GaussianNoise(-1)).toThrow(RangeError);
    expect(() => new GaussianNoise(MAX_SEED + 1)).toThrow(RangeError);
    expect(() => new GaussianNoise(1.5)).toThrow(RangeError);
  });
});
