/**
 * Sampling controls after defaults and validation. Every bad value is an INVALID_ARGUMENT whose
 * message names the parameter as the API spells it (`top_p`, `max_tokens`, ...).
 */
import { invalidArgument } from '@aigc/runtime';
import type { SamplingParams } from '@aigc/proto';

/** Validated sampling settings of one request. */
export interface SamplingSettings {
  maxTokens: number;
  /** 0 is greedy. */
  temperature: number;
  topP: number;
  /** 0 disables top-k. */
  topK: number;
  /** Multiplicative penalty on tokens already in prompt or output; 1 disables. */
  repetitionPenalty: number;
  /** Additive penalties on tokens already generated, as OpenAI defines them. */
  presencePenalty: number;
  frequencyPenalty: number;
  stop: string[];
  seed: number;
  /** Alternatives reported per token; undefined when logprobs were not asked for. */
  logprobs: number | undefined;
  /** Keep generating past the end-of-sequence token. */
  ignoreEos: boolean;
}

/** Limits the text server enforces on every request. */
export interface SamplingLimits {
  defaultMaxTokens: number;
  maxTokensLimit: number;
}

/** Most stop sequences per request, and longest one (characters). */
export const MAX_STOP_SEQUENCES = 4;
export const MAX_STOP_LENGTH = 256;
/** Most alternatives per token `logprobs` may ask for. */
export const MAX_LOGPROBS = 20;

const fmt = (v: number): string => (Number.isNaN(v) ? 'NaN' : String(v));

function inRange(name: string, v: number, lo: number, hi: number, open: { lo?: boolean } = {}): number {
  const tooLow = open.lo ? v <= lo : v < lo;
  if (!Number.isFinite(v) || tooLow || v > hi) throw invalidArgument(`${name} must be in ${open.lo ? '(' : '['}${lo}, ${hi}], got ${fmt(v)}`);
  return v;
}

/** Applies defaults and validates; throws INVALID_ARGUMENT naming the first bad parameter. */
export function resolveSampling(params: SamplingParams | undefined, limits: SamplingLimits): SamplingSettings {
  const p = params ?? ({ maxTokens: 0, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [] } as SamplingParams);
  const maxTokens = p.maxTokens || limits.defaultMaxTokens;
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > limits.maxTokensLimit) {
    throw invalidArgument(`max_tokens must be between 1 and ${limits.maxTokensLimit}, got ${maxTokens}`);
  }
  const temperature = inRange('temperature', p.temperature ?? 1, 0, 2);
  const topP = inRange('top_p', p.topP ?? 1, 0, 1, { lo: true });
  const topK = p.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0) throw invalidArgument(`top_k must be a non-negative integer, got ${topK}`);
  const repetitionPenalty = inRange('repetition_penalty', p.repetitionPenalty ?? 1, 0, 10, { lo: true });
  const presencePenalty = inRange('presence_penalty', p.presencePenalty ?? 0, -2, 2);
  const frequencyPenalty = inRange('frequency_penalty', p.frequencyPenalty ?? 0, -2, 2);
  const stop = p.stop ?? [];
  if (stop.length > MAX_STOP_SEQUENCES) throw invalidArgument(`stop takes at most ${MAX_STOP_SEQUENCES} sequences, got ${stop.length}`);
  stop.forEach((s, i) => {
    if (s.length === 0) throw invalidArgument(`stop[${i}] must not be empty`);
    if (s.length > MAX_STOP_LENGTH) throw invalidArgument(`stop[${i}] must be at most ${MAX_STOP_LENGTH} characters, got ${s.length}`);
  });
  const seed = p.seed ?? Math.floor(Math.random() * 2 ** 32);
  if (!Number.isInteger(seed) || seed < 0) throw invalidArgument(`seed must be a non-negative integer, got ${seed}`);
  const logprobs = p.logprobs;
  if (logprobs !== undefined && (!Number.isInteger(logprobs) || logprobs < 0 || logprobs > MAX_LOGPROBS)) {
    throw invalidArgument(`logprobs must be between 0 and ${MAX_LOGPROBS}, got ${logprobs}`);
  }
  // 64-bit seeds fold into the 32-bit generator state; equal seeds still give equal streams.
  const seed32 = (seed % 2 ** 32) ^ Math.floor(seed / 2 ** 32);
  return { maxTokens, temperature, topP, topK, repetitionPenalty, presencePenalty, frequencyPenalty, stop, seed: seed32 >>> 0, logprobs, ignoreEos: p.ignoreEos === true };
}
