/**
 * Messages between an {@link OnnxExecutor} and its worker threads. Tensor buffers travel in the
 * transfer list, so a batch is moved, not copied, across the thread boundary.
 */
import type ort from 'onnxruntime-node';
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
  /** Module URL or path of a worker extension (see {@link WorkerExtension}). */
  extension?: string;
}

/** Name, element type and dims (`-1` or a symbolic name for variable) of a model input or output. */
export interface TensorInfo {
  name: string;
  type: TensorType | string;
  dims: (number | string)[];
}

/** Main thread -> worker. */
export type WorkerRequest =
  | { kind: 'run'; id: number; feeds: TensorMap; outputs?: string[] }
  | { kind: 'call'; id: number; method: string; args: unknown }
  | { kind: 'close' };

/** Worker -> main thread. */
export type WorkerReply =
  | { kind: 'ready'; inputs: TensorInfo[]; outputs: TensorInfo[] }
  | { kind: 'load-failed'; message: string }
  | { kind: 'result'; id: number; outputs: TensorMap; computeMs: number }
  | { kind: 'returned'; id: number; value: unknown; computeMs: number }
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

/** What a worker extension's handler works with: the session of its worker thread. */
export interface WorkerExtensionContext {
  session: ort.InferenceSession;
  /** The onnxruntime-node module the session came from (for `new ort.Tensor`). */
  ort: typeof ort;
  /** Index of this worker among the executor's instances. */
  instance: number;
}

/** A handler's answer: its value (structured-cloned) and the buffers to move instead of copy. */
export interface WorkerExtensionResult {
  value: unknown;
  transfer?: ArrayBuffer[];
  /** Milliseconds of model compute in the call; default the handler's whole time. */
  computeMs?: number;
}

/**
 * A module the worker imports beside its session: its `handlers` export (or default export) maps
 * method names to functions that {@link OnnxExecutor.call} reaches. State that must live next
 * to a session, such as a decoder's KV cache, lives here instead of crossing the thread boundary
 * on every run.
 */
export type WorkerExtension = Record<string, (args: unknown, context: WorkerExtensionContext) => WorkerExtensionResult | Promise<WorkerExtensionResult>>;

/**
 * An extension's optional `prepareModel` export: given the model file's bytes, returns the bytes
 * the session opens instead (the same model with, say, an intermediate exposed as an output), or
 * undefined to open the file as it is.
 */
export type PrepareModel = (model: Uint8Array) => Uint8Array | undefined | Promise<Uint8Array | undefined>;
