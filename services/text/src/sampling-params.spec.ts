import { describe, expect, it } from 'vitest';
import type { SamplingParams } from '@aigc/proto';
import { ServiceError, Status } from '@aigc/runtime';
import { resolveSampling } from './sampling-params.js';

const LIMITS = { defaultMaxTokens: 64, maxTokensLimit: 2048 };
const params = (p: Partial<SamplingParams>): SamplingParams => ({ maxTokens: 0, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [], ...p });

describe('resolveSampling', () => {
  it('fills defaults', () => {
    const s = resolveSampling(undefined, LIMITS);
    expect(s).toMatchObject({ maxTokens: 64, temperature: 1, topP: 1, topK: 0, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, stop: [], logprobs: undefined });
    expect(resolveSampling(params({ seed: 5 }), LIMITS).seed).toBe(5);
  });

  it('keeps distinct 64-bit seeds distinct', () => {
    expect(resolveSampling(params({ seed: 2 ** 40 + 1 }), LIMITS).seed).not.toBe(resolveSampling(params({ seed: 1 }), LIMITS).seed);
  });

  it.each([
    [{ maxTokens: 5000 }, 'max_tokens must be between 1 and 2048, got 5000'],
    [{ temperature: 2.5 }, 'temperature must be in [0, 2], got 2.5'],
    [{ temperature: Number.NaN }, 'temperature must be in [0, 2], got NaN'],
    [{ topP: 0 }, 'top_p must be in (0, 1], got 0'],
    [{ topP: 1.5 }, 'top_p must be in (0, 1], got 1.5'],
    [{ topK: -1 }, 'top_k must be a non-negative integer, got -1'],
    [{ repetitionPenalty: 0 }, 'repetition_penalty must be in (0, 10], got 0'],
    [{ presencePenalty: 3 }, 'presence_penalty must be in [-2, 2], got 3'],
    [{ frequencyPenalty: -2.5 }, 'frequency_penalty must be in [-2, 2], got -2.5'],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop takes at most 4 sequences, got 5'],
    [{ stop: ['ok', ''] }, 'stop[1] must not be empty'],
    [{ stop: ['x'.repeat(300)] }, 'stop[0] must be at most 256 characters, got 300'],
    [{ seed: -1 }, 'seed must be a non-negative integer, got -1'],
    [{ logprobs: 21 }, 'logprobs must be between 0 and 20, got 21'],
  ] as [Partial<SamplingParams>, string][])('rejects %j with INVALID_ARGUMENT naming the parameter', (bad, message) => {
    let err: unknown;
    try {
      resolveSampling(params(bad), LIMITS);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).code).toBe(Status.INVALID_ARGUMENT);
    expect((err as Error).message).toBe(message);
  });
});
