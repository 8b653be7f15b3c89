import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { resolveSampling, sampleToken, seededRandom } from './sampler.js';

const limits = { defaultMaxTokens: 64, maxTokensLimit: 256 };
const settings = (over: Partial<ReturnType<typeof resolveSampling>> = {}) => ({ ...resolveSampling({ maxTokens: 8, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [], seed: 1 }, limits), ...over });

describe('resolveSampling', () => {
  it('applies defaults', () => {
    expect(resolveSampling(undefined, limits)).toMatchObject({ maxTokens: 64, temperature: 1, topP: 1, topK: 0, stop: [] });
  });

  it.each([
    [{ maxTokens: 1000 }, 'max_tokens must be <= 256'],
    [{ temperature: -0.1 }, 'temperature must be in [0, 2]'],
    [{ topP: 0 }, 'top_p must be in (0, 1]'],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop takes at most 4 sequences'],
    [{ stop: [''] }, 'stop sequences must not be empty'],
  ])('rejects %j with INVALID_ARGUMENT naming the parameter', (bad, message) => {
    const params = { maxTokens: 0, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [] as string[], ...bad };
    expect(() => resolveSampling(params, limits)).toThrow(expect.objectContaining({ code: status.INVALID_ARGUMENT, message: expect.stringContaining(message) }));
  });
});

describe('sampleToken', () => {
  const logits = Float32Array.from([0, 3, 1, 2]);

  it('is greedy at temperature 0', () => {
    expect(sampleToken(logits, settings({ temperature: 0 }), seededRandom(1))).toBe(1);
  });

  it('draws only from the top-k', () => {
    const draws = new Set(Array.from({ length: 200 }, (_, i) => sampleToken(logits, settings({ topK: 2 }), seededRandom(i))));
    expect([...draws].sort()).toEqual([1, 3]);
  });

  it('draws only from the top-p nucleus', () => {
    // softmax([3, 2, 1, 0]) = [0.64, 0.24, 0.09, 0.03]: p = 0.8 keeps the first two.
    const draws = new Set(Array.from({ length: 200 }, (_, i) => sampleToken(logits, settings({ topP: 0.8 }), seededRandom(i))));
    expect([...draws].sort()).toEqual([1, 3]);
  });

  it('gives the same sequence for the same seed and a different one for another', () => {
    const run = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 30 }, () => sampleToken(logits, settings(), random));
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
  });
});
