/**
 * Picks each next token from a row of logits: repetition, presence and frequency penalties,
 * then temperature, top-k and top-p, drawn from a seeded generator so the same seed and input
 * give the same tokens whatever else shares the batch.
 */
import type { SamplingSettings } from './sampling-params.js';

/** One alternative token and its log probability. */
export interface TokenChoice {
  id: number;
  logprob: number;
}

/** The token picked at one position, its log probability and the best alternatives. */
export interface SampledToken extends TokenChoice {
  top: TokenChoice[];
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

/** The sampling state of one request: its settings, random stream and token counts. */
export class TokenSampler {
  private readonly random: () => number;
  /** Times each token was generated (presence / frequency penalties). */
  private readonly generated = new Map<number, number>();
  /** Tokens in the prompt or output (repetition penalty). */
  private readonly seen = new Set<number>();

  constructor(
    private readonly settings: SamplingSettings,
    promptIds: readonly number[],
  ) {
    this.random = seededRandom(settings.seed);
    for (const id of promptIds) this.seen.add(id);
  }

  /** Picks the next token from `logits` (one row, vocabulary-sized; modified in place) and records it. */
  sample(logits: Float32Array): SampledToken {
    this.applyPenalties(logits);
    const s = this.settings;
    const id = s.temperature === 0 ? argmax(logits) : this.draw(logits);
    const result: SampledToken = { id, logprob: 0, top: [] };
    if (s.logprobs !== undefined) {
      const logZ = logSumExp(logits);
      result.logprob = logits[id]! - logZ;
      result.top = topIndices(logits, s.logprobs).map((i) => ({ id: i, logprob: logits[i]! - logZ }));
    }
    this.generated.set(id, (this.generated.get(id) ?? 0) + 1);
    this.seen.add(id);
    return result;
  }

  private applyPenalties(logits: Float32Array): void {
    const { repetitionPenalty: rep, presencePenalty: pres, frequencyPenalty: freq } = this.settings;
    if (rep !== 1) {
      // As in CTRL and Hugging Face: shrink positive logits, push negative ones further down.
      for (const id of this.seen) if (id < logits.length) logits[id] = logits[id]! > 0 ? logits[id]! / rep : logits[id]! * rep;
    }
    if (pres !== 0 || freq !== 0) {
      for (const [id, count] of this.generated) if (id < logits.length) logits[id] = logits[id]! - pres - freq * count;
    }
  }

  private draw(logits: Float32Array): number {
    const { temperature, topK, topP } = this.settings;
    if (topK === 0 && topP >= 1) return this.drawAll(logits, temperature);
    const k = topK > 0 ? Math.min(topK, logits.length) : logits.length;
    // Candidates sorted by logit; a full sort only when top-k does not bound it.
    const order = k < logits.length ? topIndices(logits, k) : Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
    const max = logits[order[0]!]!;
    const weights = new Float64Array(order.length);
    let total = 0;
    for (let i = 0; i < order.length; i++) total += weights[i] = Math.exp((logits[order[i]!]! - max) / temperature);
    let kept = order.length;
    if (topP < 1) {
      let mass = 0;
      for (let i = 0; i < order.length; i++) {
        mass += weights[i]! / total;
        if (mass >= topP) {
          kept = i + 1;
          break;
        }
      }
    }
    let keptTotal = 0;
    for (let i = 0; i < kept; i++) keptTotal += weights[i]!;
    let r = this.random() * keptTotal;
    for (let i = 0; i < kept; i++) {
      r -= weights[i]!;
      if (r <= 0) return order[i]!;
    }
    return order[kept - 1]!;
  }

  /** Softmax sampling over the whole vocabulary: no sort needed. */
  private drawAll(logits: Float32Array, temperature: number): number {
    let max = -Infinity;
    for (const v of logits) if (v > max) max = v;
    const weights = new Float64Array(logits.length);
    let total = 0;
    for (let i = 0; i < logits.length; i++) total += weights[i] = Math.exp((logits[i]! - max) / temperature);
    let r = this.random() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i]!;
      if (r <= 0) return i;
    }
    return argmax(logits);
  }
}

/** Index of the largest value (the lowest index on ties). */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function logSumExp(values: Float32Array): number {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** Indices of the `k` largest values, largest first (lower index first on ties). */
function topIndices(values: Float32Array, k: number): number[] {
  const top: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (top.length === k && v <= values[top[k - 1]!]!) continue;
    let at = top.length;
    while (at > 0 && values[top[at - 1]!]! < v) at--;
    top.splice(at, 0, i);
    if (top.length > k) top.pop();
  }
  return top;
}
