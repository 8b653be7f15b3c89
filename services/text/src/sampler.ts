import { invalidArgument } from '@aigc/runtime';
import type { SamplingParams } from '@aigc/proto';

/** Sampling settings after defaults and validation. */
export interface SamplingSettings {
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  stop: string[];
  seed: number;
}

/** Limits the text server enforces on every request. */
export interface SamplingLimits {
  defaultMaxTokens: number;
  maxTokensLimit: number;
}

/**
 * Applies defaults and validates sampling parameters; every bad value is an INVALID_ARGUMENT
 * whose message names the parameter.
 */
export function resolveSampling(params: SamplingParams | undefined, limits: SamplingLimits): SamplingSettings {
  const maxTokens = params?.maxTokens || limits.defaultMaxTokens;
  if (maxTokens > limits.maxTokensLimit) throw invalidArgument(`max_tokens must be <= ${limits.maxTokensLimit}, got ${maxTokens}`);
  const temperature = params?.temperature ?? 1;
  if (!Number.isFinite(temperature) || temperature < 0 || temperature > 2) throw invalidArgument(`temperature must be in [0, 2], got ${temperature}`);
  const topP = params?.topP ?? 1;
  if (!Number.isFinite(topP) || topP <= 0 || topP > 1) throw invalidArgument(`top_p must be in (0, 1], got ${topP}`);
  const topK = params?.topK ?? 0;
  const stop = params?.stop ?? [];
  if (stop.length > 4) throw invalidArgument(`stop takes at most 4 sequences, got ${stop.length}`);
  if (stop.some((s) => s.length === 0)) throw invalidArgument('stop sequences must not be empty');
  const seed = params?.seed ?? Math.floor(Math.random() * 2 ** 32);
  return { maxTokens, temperature, topP, topK, stop, seed: seed >>> 0 };
}

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Picks the next token from one row of logits: greedy at temperature 0, otherwise softmax at
 * the temperature restricted to the top-k and then the top-p nucleus, drawn with `random`.
 */
export function sampleToken(logits: Float32Array, settings: SamplingSettings, random: () => number): number {
  if (settings.temperature === 0) return argmax(logits);
  const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!);
  const k = settings.topK > 0 ? Math.min(settings.topK, order.length) : order.length;
  const max = logits[order[0]!]!;
  const weights = order.slice(0, k).map((i) => Math.exp((logits[i]! - max) / settings.temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let kept = weights.length;
  if (settings.topP < 1) {
    let mass = 0;
    for (let i = 0; i < weights.length; i++) {
      mass += weights[i]! / total;
      if (mass >= settings.topP) {
        kept = i + 1;
        break;
      }
    }
  }
  const keptTotal = weights.slice(0, kept).reduce((a, b) => a + b, 0);
  let r = random() * keptTotal;
  for (let i = 0; i < kept; i++) {
    r -= weights[i]!;
    if (r <= 0) return order[i]!;
  }
  return order[kept - 1]!;
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
