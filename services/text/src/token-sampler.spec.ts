import { describe, expect, it } from 'vitest';
import { resolveSampling, type SamplingSettings } from './sampling-params.js';
import { TokenSampler } from './token-sampler.js';
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
