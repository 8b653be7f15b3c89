/**
 * Turns per-request feeds into one batch (rows concatenated, ragged axes padded to a common
 * length) and the batch's outputs back into per-request outputs (rows sliced, padding cut).
 */
import type { ModelConfig } from './model-config.js';
import { allocate, elementCount, fillValue, narrow, sliceRows, type Tensor, type TensorMap } from './tensor.js';

/** A request checked against its model's config and ready to be batched. */
export interface PreparedRequest {
  feeds: TensorMap;
  /** Rows (the batch dimension) this request carries. */
  rows: number;
  /** Length along the ragged axis, by ragged input name. */
  lengths: Record<string, number>;
  /** Padded length when the model batches by shape buckets. */
  bucket?: number;
}

/**
 * Builds the feeds of one batch in fresh buffers (so they can be transferred to the worker without
 * detaching the caller's arrays). With `maxBatchSize` 0 the single request's feeds are copied.
 */
export function assembleBatch(config: ModelConfig, requests: readonly PreparedRequest[]): TensorMap {
  if (config.maxBatchSize === 0) {
    const only = requests[0]!.feeds;
    return Object.fromEntries(Object.entries(only).map(([n, t]) => [n, { ...t, data: t.data.slice() } as Tensor]));
  }
  const rows = requests.reduce((n, r) => n + r.rows, 0);
  const feeds: TensorMap = {};
  for (const input of config.inputs) {
    const parts = requests.map((r) => r.feeds[input.name]!);
    if (!input.ragged) {
      feeds[input.name] = concatRows(parts, rows);
      continue;
    }
    const axis = input.ragged.axis + 1;
    const target = requests[0]!.bucket ?? Math.max(...parts.map((p) => p.dims[axis]!));
    feeds[input.name] = padAndConcat(parts, rows, axis, target, input.ragged.padValue ?? 0);
  }
  return feeds;
}

/** Splits a batch's outputs into each request's outputs, cutting ragged outputs to each request's length. */
export function splitBatch(config: ModelConfig, outputs: TensorMap, requests: readonly PreparedRequest[]): TensorMap[] {
  let start = 0;
  return requests.map((r) => {
    const mine: TensorMap = {};
    for (const [name, t] of Object.entries(outputs)) {
      let part = config.maxBatchSize === 0 ? t : requests.length === 1 ? t : sliceRows(t, start, r.rows);
      const ragged = config.outputs.find((o) => o.name === name)?.raggedLike;
      const length = ragged ? r.lengths[ragged.input] : undefined;
      if (ragged && length !== undefined) part = narrow(part, ragged.axis + (config.maxBatchSize === 0 ? 0 : 1), length);
      mine[name] = part;
    }
    start += r.rows;
    return mine;
  });
}

function concatRows(parts: readonly Tensor[], rows: number): Tensor {
  const first = parts[0]!;
  const data = allocate(first.type, rows * elementCount(first.dims.slice(1)));
  let offset = 0;
  for (const p of parts) {
    (data as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return { type: first.type, dims: [rows, ...first.dims.slice(1)], data };
}

/** Pads each part along `axis` to `target` with `padValue`, stacking the parts' rows. */
function padAndConcat(parts: readonly Tensor[], rows: number, axis: number, target: number, padValue: number): Tensor {
  const first = parts[0]!;
  const dims = [...first.dims];
  dims[0] = rows;
  dims[axis] = target;
  const data = allocate(first.type, elementCount(dims));
  if (padValue !== 0) (data as Float32Array).fill(fillValue(first.type, padValue) as number);
  const inner = elementCount(dims.slice(axis + 1));
  let outerOffset = 0;
  for (const p of parts) {
    const length = p.dims[axis]!;
    const outer = elementCount(p.dims.slice(0, axis));
    for (let o = 0; o < outer; o++) {
      const src = p.data.subarray(o * length * inner, (o + 1) * length * inner);
      (data as Float32Array).set(src as Float32Array, (outerOffset + o) * target * inner);
    }
    outerOffset += outer;
  }
  return { type: first.type, dims, data };
}
