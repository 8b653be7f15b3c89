import { describe, expect, it } from 'vitest';
import { resolveSampling, type SamplingSettings } from './sampling-params.js';
import { seededRandom, TokenSampler } from './token-sampler.js';
import type { SamplingParams } from '@aigc/proto';

const settings = (p: Partial<SamplingParams>): SamplingSettings =>
  resolveSampling({ maxTokens: 0, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [], seed: 1, ...p }, { defaultMaxTokens: 8, maxTokensLimit: 64 });
const logits = () => Float32Array.from([2, 1.9, 0.5, -1, -3]);
const draws = (s: SamplingSettings, n: number, prompt: number[] = []) => {
  const sampler = new TokenSampler(s, prompt);
  return Array.from({ length: n }, () => sampler.sample(logits()).id);
};

describe('TokenSampler', () => {
  it('is greedy at temperature 0 and with top_k 1', () => {
    expect(draws(settings({ temperature: 0 }), 5)).toEqual([0, 0, 0, 0, 0]);
    expect(draws(settings({ temperature: 1.5, topK: 1 }), 5)).toEqual([0, 0, 0, 0, 0]);
  });

  it('draws the same tokens for the same seed', () => {
    const a = draws(settings({ temperature: 1.5, seed: 9 }), 50);
    expect(draws(settings({ temperature: 1.5, seed: 9 }), 50)).toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(2);
  });

  it('keeps only the nucleus with top_p', () => {
    // Softmax of [2, 1.9, 0.5, -1, -3]: the first two hold about 0.85 of the mass.
    expect(new Set(draws(settings({ topP: 0.8, seed: 4 }), 200))).toEqual(new Set([0, 1]));
  });

  it('draws top-p and top-k from a large vocabulary exactly as a full sort would', () => {
    // The reference: every token sorted by logit (lower id on ties), the nucleus cut from that order.
    const reference = (row: Float32Array, temperature: number, topP: number, topK: number, random: () => number) => {
      const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b).slice(0, topK || row.length);
      const w = order.map((i) => Math.exp((row[i]! - row[order[0]!]!) / temperature));
      const total = w.reduce((a, b) => a + b, 0);
      let kept = order.length;
      for (let i = 0, mass = 0; i < order.length; i++) if ((mass += w[i]! / total) >= topP) { kept = i + 1; break; }
      let r = random() * w.slice(0, kept).reduce((a, b) => a + b, 0);
      for (let i = 0; i < kept; i++) if ((r -= w[i]!) <= 0) return order[i]!;
      return order[kept - 1]!;
    };
    const make = seededRandom(5);
    for (let trial = 0; trial < 12; trial++) {
      // 3,000 tokens, a peaked head and a long tail, with ties (values on a 1/8 grid) and -0.
      const row = Float32Array.from({ length: 3000 }, (_, i) => (i === 7 ? -0 : Math.round((make() < 0.02 ? 8 : 0) + make() * 40 - 30) / 8));
      for (const [temperature, topP, topK] of [[0.8, 0.9, 0], [1.3, 0.5, 0], [0.7, 0.99, 0], [1, 0.9, 50], [1, 1, 300]] as const) {
        const sampler = new TokenSampler(settings({ temperature, topP, topK, seed: trial }), []);
        const random = seededRandom(trial);
        for (let k = 0; k < 5; k++) expect(sampler.sample(row.slice()).id).toBe(reference(row, temperature, topP, topK, random));
      }
    }
  });

  it('draws from probabilities as from logits: top-p and top-k over the most probable tokens', () => {
    const reference = (p: Float32Array, topP: number, topK: number, random: () => number) => {
      const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]! || a - b).slice(0, topK || p.length);
      const w = order.map((i) => p[i]!);
      const total = (topK ? w : Array.from(p)).reduce((a, b) => a + b, 0);
      let kept = order.length;
      if (topP < 1) for (let i = 0, mass = 0; i < order.length; i++) if ((mass += w[i]! / total) >= topP) { kept = i + 1; break; }
      let r = random() * w.slice(0, kept).reduce((a, b) => a + b, 0);
      for (let i = 0; i < kept; i++) if ((r -= w[i]!) <= 0) return order[i]!;
      return order[kept - 1]!;
    };
    const make = seededRandom(11);
    for (let trial = 0; trial < 8; trial++) {
      // Softmax of 3,000 logits on a coarse grid (ties), a peaked head and a long tail.
      const logits = Array.from({ length: 3000 }, () => Math.round((make() < 0.02 ? 8 : 0) + make() * 40 - 30) / 8);
      const max = Math.max(...logits);
      const z = logits.reduce((n, l) => n + Math.exp(l - max), 0);
      const probs = Float32Array.from(logits, (l) => Math.exp(l - max) / z);
      for (const [topP, topK] of [[0.9, 0], [0.5, 0], [1, 0], [1, 40], [0.8, 300]] as const) {
        const sampler = new TokenSampler(settings({ temperature: 1, topP, topK, seed: trial }), []);
        expect(sampler.plainSampling).toBe(true);
        const random = seededRandom(trial);
        for (let k = 0; k < 5; k++) {
          const want = topP === 1 && topK === 0 ? undefined : reference(probs, topP, topK, random);
          const got = sampler.sampleProbs(probs).id;
          if (want !== undefined) expect(got).toBe(want);
        }
      }
    }
    // Without truncation: the same seed draws the same tokens, spread over the distribution.
    const p = Float32Array.from([0.5, 0.3, 0.15, 0.05]);
    const draw = (seed: number) => { const s = new TokenSampler(settings({ temperature: 1, seed }), []); return Array.from({ length: 400 }, () => s.sampleProbs(p).id); };
    expect(draw(3)).toEqual(draw(3));
    const counts = [0, 1, 2, 3].map((id) => draw(3).filter((x) => x === id).length / 400);
    counts.forEach((c, i) => expect(Math.abs(c - p[i]!)).toBeLessThan(0.08));
  });

  it('penalises repetition: a repetition penalty steers greedy decoding off seen tokens', () => {
    expect(draws(settings({ temperature: 0, repetitionPenalty: 1.2 }), 1, [0])).toEqual([1]);
  });

  it('applies presence and frequency penalties to generated tokens', () => {
    // Greedy: token 0 first; then presence 0.5 pushes it below token 1 (2 - 0.5 < 1.9).
    expect(draws(settings({ temperature: 0, presencePenalty: 0.5 }), 2)).toEqual([0, 1]);
    // Frequency penalty grows with each repeat: 0, 1, then both are penalised once: 0 again.
    expect(draws(settings({ temperature: 0, frequencyPenalty: 0.15 }), 3)).toEqual([0, 1, 0]);
    expect(draws(settings({ temperature: 0, presencePenalty: -1 }), 3)).toEqual([0, 0, 0]);
  });

  it('reports log probabilities that match the distribution', () => {
    const sampler = new TokenSampler(settings({ temperature: 0, logprobs: 3 }), []);
    const picked = sampler.sample(logits());
    const z = Math.log([2, 1.9, 0.5, -1, -3].reduce((n, v) => n + Math.exp(v), 0));
    expect(picked.logprob).toBeCloseTo(2 - z, 5);
    expect(picked.top.map((t) => t.id)).toEqual([0, 1, 2]);
    expect(picked.top[2]!.logprob).toBeCloseTo(0.5 - z, 5);
  });
});
