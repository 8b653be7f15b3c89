/**
 * Messages between an {@link OnnxExecutor} and its worker threads. Tensor buffers travel in the
 * transfer list, so a batch is moved, not copied, across the thread boundary.
 */
import type { Tensor, TensorMap, TensorType } from './tensor.js';

/** An execution provider and its options, as ONNX Runtime takes them. */
export interface ExecutionProviderConfig {
  /** `cpu` or `cuda` (CUDA needs the GPU build of ONNX Runtime on the host). */
  name: 'cpu' | 'cuda';
  /** GPU ordinal for `cuda`; ignored for `cpu`. */
  deviceId?: number;
}

/** What a worker needs to open its session. */
export interface WorkerInit {
  modelPath: string;
  instance: number;
  intraOpThreads: number;
  interOpThreads: number;
  executionProviders: ExecutionProviderConfig[];
}

/** Name, element type and dims (`-1` or a symbolic name for variable) of a model input or output. */
export interface TensorInfo {
  name: string;
  type: TensorType | string;
  dims: (number | string)[];
}

/** Main thread -> worker. */
export type WorkerRequest = { kind: 'run'; id: number; feeds: TensorMap; outputs?: string[] } | { kind: 'close' };

/** Worker -> main thread. */
export type WorkerReply =
  | { kind: 'ready'; inputs: TensorInfo[]; outputs: TensorInfo[] }
  | { kind: 'load-failed'; message: string }
  | { kind: 'result'; id: number; outputs: TensorMap; computeMs: number }
  | { kind: 'failed'; id: number; message: string }
  | { kind: 'closed' };

/** Buffers of `tensors` that can be transferred (each buffer once). */
export function transferables(tensors: Iterable<Tensor>): ArrayBuffer[] {
  const seen = new Set<ArrayBufferLike>();
  const list: ArrayBuffer[] = [];
  for (const t of tensors) {
    const buffer = t.data.buffer;
    // Only whole, unshared buffers: a view into a pooled or shared buffer must not be detached.
    if (seen.has(buffer) || !(buffer instanceof ArrayBuffer)) continue;
    if (t.data.byteOffset !== 0 || t.data.byteLength !== buffer.byteLength) continue;
    seen.add(buffer);
    list.push(buffer);
  }
  return list;
}
