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

  /**
   * Greedy with nothing to apply or report (no penalties, no logprobs): the next token is the
   * logits' argmax, which the caller may take from elsewhere (the graph's) and give to {@link take}.
   */
  get plainGreedy(): boolean {
    return this.settings.temperature === 0 && this.plain;
  }

  /**
   * Sampling (temperature above 0) with nothing to apply to the logits or report: the token can be
   * drawn from softmax(logits / temperature) computed elsewhere (the graph's), with {@link sampleProbs}.
   */
  get plainSampling(): boolean {
    return this.settings.temperature > 0 && this.plain;
  }

  get temperature(): number {
    return this.settings.temperature;
  }

  private get plain(): boolean {
    const s = this.settings;
    return s.repetitionPenalty === 1 && s.presencePenalty === 0 && s.frequencyPenalty === 0 && s.logprobs === undefined;
  }

  /**
   * Draws the next token from `probs`, softmax(logits / temperature) of one row, with top-k and
   * top-p as {@link sample} applies them, and records it. Only for {@link plainSampling}; a
   * sequence always draws this way or always from logits, whatever shares its batch.
   */
  sampleProbs(probs: Float32Array): SampledToken {
    const { topK, topP } = this.settings;
    const n = probs.length;
    let total = 0;
    if ((topK === 0 || topK >= n) && topP >= 1) {
      for (let i = 0; i < n; i++) total += probs[i]!;
      let r = this.random() * total;
      for (let i = 0; i < n; i++) {
        r -= probs[i]!;
        if (r <= 0) return this.take(i);
      }
      return this.take(argmax(probs));
    }
    let order: ArrayLike<number>;
    if (topK > 0 && topK < n) {
      order = topIndices(probs, topK);
      for (let i = 0; i < order.length; i++) total += probs[order[i]!]!;
    } else {
      for (let i = 0; i < n; i++) total += probs[i]!;
      order = nucleusByProbability(probs, topP * total);
    }
    const weights = new Float64Array(order.length);
    for (let i = 0; i < order.length; i++) weights[i] = probs[order[i]!]!;
    return this.take(this.pick(order, weights, total));
  }

  /** Whether sampled tokens carry log probabilities (the request asked for logprobs). */
  get reportsLogprobs(): boolean {
    return this.settings.logprobs !== undefined;
  }

  /** Picks the next token from `logits` (one row, vocabulary-sized; modified in place) and records it. */
  sample(logits: Float32Array): SampledToken {
    this.applyPenalties(logits);
    const s = this.settings;
    const id = s.temperature === 0 ? argmax(logits) : this.draw(logits);
    const result = this.take(id);
    if (s.logprobs !== undefined) {
      const logZ = logSumExp(logits);
      result.logprob = logits[id]! - logZ;
      result.top = topIndices(logits, s.logprobs).map((i) => ({ id: i, logprob: logits[i]! - logZ }));
    }
    return result;
  }

  /** Records `id` as this sequence's next token (the penalties' counts). */
  take(id: number): SampledToken {
    this.generated.set(id, (this.generated.get(id) ?? 0) + 1);
    this.seen.add(id);
    return { id, logprob: 0, top: [] };
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
    const n = logits.length;
    if ((topK === 0 || topK >= n) && topP >= 1) return this.drawAll(logits, temperature);
    // Candidates in order (largest logit first, lower index on ties), their weights
    // exp((logit - max) / temperature) in that order, and the weight of all of them: top-k's k,
    // or (top-p alone) a set sure to hold the nucleus, with the whole vocabulary's weight.
    let order: ArrayLike<number>;
    let weights: Float64Array;
    let total = 0;
    if (topK > 0 && topK < n) {
      order = topIndices(logits, topK);
      const max = logits[order[0]!]!;
      weights = new Float64Array(order.length);
      for (let i = 0; i < order.length; i++) total += weights[i] = Math.exp((logits[order[i]!]! - max) / temperature);
    } else {
      let max = -Infinity;
      for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
      const w = scratchWeights(n);
      for (let i = 0; i < n; i++) total += w[i] = Math.exp((logits[i]! - max) / temperature);
      order = nucleusCandidates(logits, w, max, temperature, topP * total);
      weights = new Float64Array(order.length);
      for (let i = 0; i < order.length; i++) weights[i] = w[order[i]!]!;
    }
    return this.pick(order, weights, total);
  }

  /**
   * Draws among candidates `order` (most likely first) with their `weights`, whose whole (the
   * candidates', or the vocabulary's for top-p alone) is `total`: top-p keeps the shortest prefix
   * holding `top_p` of it.
   */
  private pick(order: ArrayLike<number>, weights: Float64Array, total: number): number {
    const { topP } = this.settings;
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
    const n = logits.length;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
    const w = scratchWeights(n);
    let total = 0;
    for (let i = 0; i < n; i++) total += w[i] = Math.exp((logits[i]! - max) / temperature);
    let r = this.random() * total;
    for (let i = 0; i < n; i++) {
      r -= w[i]!;
      if (r <= 0) return i;
    }
    return argmax(logits);
  }
}

/** Weights of one row, reused from draw to draw (a thread samples one row at a time). */
let weights = new Float64Array(0);
const scratchWeights = (n: number) => (weights.length >= n ? weights : (weights = new Float64Array(n)));

/**
 * Tokens sure to hold the top-p nucleus, largest logit first (lower index on ties), given every
 * token's weight `w` (exp((logit - max) / temperature)) and the nucleus's `mass`. Without sorting
 * the vocabulary: weights are binned by powers of two below the largest, and the candidates are the
 * bins whose running sum first reaches the mass (with a margin for rounding), then sorted. So the
 * nucleus taken from them is the same as from the whole vocabulary sorted.
 */
function nucleusCandidates(logits: Float32Array, w: Float64Array, max: number, temperature: number, mass: number): Float64Array {
  const n = logits.length;
  const perBin = 1 / (temperature * Math.LN2);
  const bin = scratchBins(n);
  for (let i = 0; i < n; i++) {
    const x = (max - logits[i]!) * perBin;
    bin[i] = x < BINS - 1 ? x | 0 : BINS - 1;
  }
  return firstBinsReaching(logits, w, mass);
}

/**
 * {@link nucleusCandidates} for probabilities: tokens binned by the float32 exponent of their
 * probability below the largest one's (so by powers of two, as there), most probable first.
 */
function nucleusByProbability(probs: Float32Array, mass: number): Float64Array {
  const n = probs.length;
  const bits = new Uint32Array(probs.buffer, probs.byteOffset, n);
  let top = 0;
  for (let i = 0; i < n; i++) top = Math.max(top, (bits[i]! >>> 23) & 0xff);
  const bin = scratchBins(n);
  for (let i = 0; i < n; i++) bin[i] = Math.min(BINS - 1, top - ((bits[i]! >>> 23) & 0xff));
  return firstBinsReaching(probs, probs, mass);
}

/** Weight bins: bin b holds tokens 2^b to 2^(b+1) times less likely than the most likely one. */
const BINS = 64;
/** Each token's bin, reused. */
let bins = new Uint8Array(0);
const scratchBins = (n: number) => (bins.length >= n ? bins : (bins = new Uint8Array(n)));

/**
 * The tokens of the first bins whose `weights` reach `mass` (with a margin for rounding), sorted
 * by `values`: a set sure to hold the top-p nucleus.
 */
function firstBinsReaching(values: Float32Array, weights: ArrayLike<number>, mass: number): Float64Array {
  const n = values.length;
  const sums = new Float64Array(BINS);
  for (let i = 0; i < n; i++) sums[bins[i]!] += weights[i]!;
  let last = BINS - 1;
  let running = 0;
  for (let b = 0; b < BINS; b++) {
    running += sums[b]!;
    if (running >= mass * (1 + 1e-9)) {
      last = b;
      break;
    }
  }
  const picked: number[] = [];
  for (let i = 0; i < n; i++) if (bins[i]! <= last) picked.push(i);
  return sortByValue(values, picked);
}

const keyView = new DataView(new ArrayBuffer(4));
/** Index bits of a sort key: vocabularies up to 2^21 tokens. */
const INDEX_BITS = 2 ** 21;

/**
 * `ids` sorted by value (logit or probability), largest first, lower id on ties: a numeric sort of
 * keys that pack an order-preserving integer image of each float32 value with its id (exact in a
 * double's 53 bits).
 */
function sortByValue(logits: Float32Array, ids: readonly number[]): Float64Array {
  if (logits.length > INDEX_BITS) return Float64Array.from(ids).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const keys = new Float64Array(ids.length);
  for (let k = 0; k < ids.length; k++) {
    keyView.setFloat32(0, logits[ids[k]!]! + 0); // -0 sorts as 0
    const bits = keyView.getUint32(0);
    // Larger floats map to larger unsigned integers; the key puts the largest first.
    const ascending = bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
    keys[k] = (0xffffffff - ascending) * INDEX_BITS + ids[k]!;
  }
  keys.sort();
  for (let k = 0; k < keys.length; k++) keys[k] = keys[k]! % INDEX_BITS;
  return keys;
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
