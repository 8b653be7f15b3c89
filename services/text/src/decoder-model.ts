/**
 * One batched forward pass of a decoder-only ONNX model with a KV cache: rows bring new tokens
 * (a prefill chunk or one decode token) and their cache; each gets back the logits of its last
 * new token and its grown cache. The session runs in a libs/serving worker thread.
 */
import { ServiceError, Status } from '@aigc/runtime';
import type { OnnxExecutor, Tensor, TensorMap } from '@aigc/serving';
import { assemblePast, cacheGeometryOf, type CacheGeometry, type KvCache } from './kv-cache.js';

/** One sequence's share of a step. */
export interface StepRow {
  /** New tokens to process (at least one). */
  tokens: readonly number[];
  /** What the sequence has cached so far; undefined before its first chunk. */
  cache: KvCache | undefined;
}

/** One row's result. */
export interface StepOutput {
  /** Logits after the row's last new token (vocabulary-sized, a fresh copy). */
  logits: Float32Array;
  cache: KvCache;
}

/** Runs steps of a decoder-only model; see the module comment. */
export class DecoderModel {
  readonly geometry: CacheGeometry;
  private readonly keyNames: string[];
  private readonly feedsPositions: boolean;

  constructor(
    private readonly executor: OnnxExecutor,
    readonly name: string,
  ) {
    const geometry = cacheGeometryOf(executor.inputs);
    const names = new Set(executor.inputs.map((i) => i.name));
    // position_ids is optional: exports without it derive positions from the attention mask.
    const missing = ['input_ids', 'attention_mask'].filter((n) => !names.has(n));
    this.feedsPositions = names.has('position_ids');
    if (!geometry || missing.length > 0) {
      throw new ServiceError(
        Status.FAILED_PRECONDITION,
        `model ${name} is not a decoder with a KV cache: it needs inputs input_ids, attention_mask (position_ids optional) and past_key_values.N.key/value with numeric head dims${missing.length ? ` (missing ${missing.join(', ')})` : ''}`,
      );
    }
    this.geometry = geometry;
    this.keyNames = [];
    for (let l = 0; l < geometry.layers; l++) this.keyNames.push(`${l}.key`, `${l}.value`);
  }

  /** Runs one forward pass over `rows`; rejects when `signal` fires before the worker takes it. */
  async step(rows: readonly StepRow[], signal?: AbortSignal): Promise<{ outputs: StepOutput[]; computeMs: number }> {
    const B = rows.length;
    const T = Math.max(...rows.map((r) => r.tokens.length));
    // Fast path: the rows are exactly the rows of one previous output, in order, so that output's
    // present tensors are this pass's past as they are (no copy; their padding stays masked).
    const reuse = reusablePast(rows);
    const P = reuse ? reuse[0]!.dims[2]! : Math.max(0, ...rows.map((r) => r.cache?.length ?? 0));
    const ids = new BigInt64Array(B * T);
    const positions = new BigInt64Array(B * T);
    const mask = new BigInt64Array(B * (P + T));
    rows.forEach((r, b) => {
      const n = r.cache?.length ?? 0;
      for (let j = 0; j < T; j++) {
        const real = j < r.tokens.length;
        ids[b * T + j] = BigInt(real ? r.tokens[j]! : r.tokens[r.tokens.length - 1]!);
        positions[b * T + j] = BigInt(n + Math.min(j, r.tokens.length - 1));
        if (real) mask[b * (P + T) + P + j] = 1n;
      }
      // A cache always ends at slot P: left-padded by assemblePast, or as its output left it.
      for (let s = P - n; s < P; s++) mask[b * (P + T) + s] = 1n;
    });
    const feeds: TensorMap = {
      input_ids: { type: 'int64', dims: [B, T], data: ids },
      attention_mask: { type: 'int64', dims: [B, P + T], data: mask },
    };
    if (this.feedsPositions) feeds.position_ids = { type: 'int64', dims: [B, T], data: positions };
    const past = reuse ?? assemblePast(this.geometry, rows.map((r) => r.cache), P);
    this.keyNames.forEach((n, i) => (feeds[`past_key_values.${n}`] = past[i]!));
    const { outputs, computeMs } = await this.executor.run(feeds, { signal, transfer: true });
    const logits = outputs.logits;
    if (!logits) throw new ServiceError(Status.INTERNAL, `model ${this.name} returned no logits`);
    const V = logits.dims[2]!;
    const presents: Tensor[] = this.keyNames.map((n) => {
      const t = outputs[`present.${n}`];
      if (!t) throw new ServiceError(Status.INTERNAL, `model ${this.name} returned no present.${n}`);
      return t;
    });
    const data = logits.data as Float32Array;
    const out = rows.map((r, b): StepOutput => {
      const last = r.tokens.length - 1;
      const from = (b * T + last) * V;
      const n = r.cache?.length ?? 0;
      return { logits: data.slice(from, from + V), cache: { tensors: presents, row: b, start: P - n, length: n + r.tokens.length } };
    });
    return { outputs: out, computeMs };
  }
}

/**
 * The present tensors of the previous pass when `rows` are all of its rows in order and each
 * row's cache ends at its last slot (true of every output of {@link DecoderModel.step}).
 */
function reusablePast(rows: readonly StepRow[]): Tensor[] | undefined {
  const first = rows[0]?.cache;
  if (!first) return undefined;
  const tensors = first.tensors;
  const L = tensors[0]!.dims[2]!;
  if (tensors[0]!.dims[0] !== rows.length) return undefined;
  for (let b = 0; b < rows.length; b++) {
    const c = rows[b]!.cache;
    if (!c || c.tensors !== tensors || c.row !== b || c.start + c.length !== L) return undefined;
  }
  return tensors;
}
