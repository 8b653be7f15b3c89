/**
 * Features of the risk model: hashed character 1-, 2- and 3-grams of the normalized text (the
 * same normalization as the lexicon, so evasions look alike to both). The training recipe in
 * `tools/train-risk` imports this file, so training and serving cannot drift apart.
 */
import { TextNormalizer } from '../engine/text-normalizer.js';

/** Hash buckets; id 0 is padding. Must equal the model's embedding rows. */
export const FEATURE_BUCKETS = 16_384;
/** Most n-gram ids fed to the model per text (the head of a longer text). */
export const MAX_FEATURES = 768;

/** Turns text into the model's `input_ids`. */
export class RiskFeaturizer {
  constructor(private readonly normalizer = new TextNormalizer()) {}

  /** N-gram ids of `text` (at least one: an empty text gives one padding-free id for "empty"). */
  featurize(text: string): BigInt64Array {
    const t = this.normalizer.normalize(text.length > 4 * MAX_FEATURES ? text.slice(0, 4 * MAX_FEATURES) : text);
    const ids: number[] = [];
    const c = t.codes;
    for (let i = 0; i < t.length && ids.length < MAX_FEATURES; i++) {
      ids.push(bucket(1, c[i]!, 0, 0));
      if (i + 1 < t.length) ids.push(bucket(2, c[i]!, c[i + 1]!, 0));
      if (i + 2 < t.length) ids.push(bucket(3, c[i]!, c[i + 1]!, c[i + 2]!));
    }
    if (ids.length === 0) ids.push(1);
    return BigInt64Array.from(ids.slice(0, MAX_FEATURES), (v) => BigInt(v));
  }
}

/** FNV-1a over (n, code points), folded into 1..FEATURE_BUCKETS-1. */
function bucket(n: number, a: number, b: number, c: number): number {
  let h = 0x811c9dc5;
  for (const v of [n, a, b, c]) {
    h = Math.imul(h ^ (v & 0xff), 0x01000193);
    h = Math.imul(h ^ ((v >>> 8) & 0xff), 0x01000193);
    h = Math.imul(h ^ ((v >>> 16) & 0xff), 0x01000193);
  }
  return 1 + ((h >>> 0) % (FEATURE_BUCKETS - 1));
}
