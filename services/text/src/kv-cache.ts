/**
 * Per-sequence KV caches over the standard export layout (`past_key_values.N.key/value`,
 * float32 `[batch, kv_heads, past, head_dim]`).
 *
 * The batch's past has one length per step, so sequences of different lengths are LEFT-padded
 * to the longest: a sequence of n cached positions occupies slots [P - n, P) of its row, the
 * attention mask is 0 on the padding, and position_ids carry each sequence's true positions.
 * New tokens are RIGHT-padded to the step's longest chunk; causal masking keeps real queries
 * from seeing that padding. So a sequence's cache after a step is always one contiguous run of
 * slots in the step's `present.N.*` output: we keep a view (tensor, row, start, length), not a
 * copy, and copy it once, into the next step's left-padded past. Cost: one copy of every active
 * sequence's cache per step, and compute on padded slots (the longest past times the batch size).
 */
import type { Tensor } from '@aigc/serving';

/** Geometry of a decoder's cache, read from the ONNX graph. */
export interface CacheGeometry {
  layers: number;
  kvHeads: number;
  headDim: number;
}

/** A sequence's cached keys and values: a contiguous slot range of one row of each present tensor. */
export interface KvCache {
  /** `present.N.key`, `present.N.value` per layer: [key0, value0, key1, value1, ...]. */
  tensors: Tensor[];
  row: number;
  start: number;
  length: number;
}

/** Bytes one cached position takes (keys and values of every layer). */
export function bytesPerToken(g: CacheGeometry): number {
  return g.layers * 2 * g.kvHeads * g.headDim * 4;
}

/**
 * Builds the step's past tensors: for each layer's key and value, `[rows, kvHeads, pastLength,
 * headDim]` with each row's cache right-aligned (left-padded with zeros).
 */
export function assemblePast(g: CacheGeometry, caches: readonly (KvCache | undefined)[], pastLength: number): Tensor[] {
  const rows = caches.length;
  const { kvHeads: H, headDim: D } = g;
  const out: Tensor[] = [];
  for (let t = 0; t < g.layers * 2; t++) {
    const data = new Float32Array(rows * H * pastLength * D);
    caches.forEach((c, b) => {
      if (!c || c.length === 0) return;
      const src = c.tensors[t]!;
      const srcLen = src.dims[2]!;
      const srcData = src.data as Float32Array;
      for (let h = 0; h < H; h++) {
        const from = ((c.row * H + h) * srcLen + c.start) * D;
        const to = ((b * H + h) * pastLength + (pastLength - c.length)) * D;
        data.set(srcData.subarray(from, from + c.length * D), to);
      }
    });
    out.push({ type: 'float32', dims: [rows, H, pastLength, D], data });
  }
  return out;
}

/** Reads the cache geometry from a decoder's ONNX inputs; undefined when it has no KV-cache inputs. */
export function cacheGeometryOf(inputs: readonly { name: string; dims: readonly (number | string)[] }[]): CacheGeometry | undefined {
  const keys = inputs.filter((i) => /^past_key_values\.\d+\.key$/.test(i.name));
  if (keys.length === 0) return undefined;
  const first = inputs.find((i) => i.name === 'past_key_values.0.key');
  const kvHeads = first?.dims[1];
  const headDim = first?.dims[3];
  if (typeof kvHeads !== 'number' || typeof headDim !== 'number') return undefined;
  return { layers: keys.length, kvHeads, headDim };
}
