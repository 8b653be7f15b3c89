/**
 * Tensors as they travel through the serving core: a typed array, its element type and its
 * dims. The same shape crosses the worker-thread boundary (its buffer transferred, not copied).
 */

/** Element types the serving core moves (ONNX Runtime's names). */
export type TensorType =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

/** The typed arrays that back a {@link Tensor}; `bool` is stored one byte per element. */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

/** A dense row-major tensor. */
export interface Tensor {
  readonly type: TensorType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** Named tensors: a model's feeds or its outputs. */
export type TensorMap = Record<string, Tensor>;

type TypedArrayConstructor = {
  new (length: number): TensorData;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): TensorData;
  readonly BYTES_PER_ELEMENT: number;
};

const CONSTRUCTORS: Record<TensorType, TypedArrayConstructor> = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
} as unknown as Record<TensorType, TypedArrayConstructor>;

/** Open Inference Protocol datatype names, by tensor type. */
const OIP_NAMES: Record<TensorType, string> = {
  float32: 'FP32',
  float64: 'FP64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  bool: 'BOOL',
};

const FROM_OIP: Record<string, TensorType> = Object.fromEntries(
  Object.entries(OIP_NAMES).map(([type, name]) => [name, type as TensorType]),
);

/** The Open Inference Protocol datatype (`FP32`, `INT64`, `BOOL`, ...) of a tensor type. */
export function toDatatype(type: TensorType): string {
  return OIP_NAMES[type];
}

/** The tensor type of an Open Inference Protocol datatype, or undefined when unsupported. */
export function fromDatatype(datatype: string): TensorType | undefined {
  return FROM_OIP[datatype];
}

/** Bytes per element of a tensor type. */
export function bytesPerElement(type: TensorType): number {
  return CONSTRUCTORS[type].BYTES_PER_ELEMENT;
}

/** Number of elements a tensor of these dims holds. */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** A zero-filled typed array of the right kind for `type`. */
export function allocate(type: TensorType, length: number): TensorData {
  return new CONSTRUCTORS[type](length);
}

/** A typed array of `type` that copies `bytes` (little-endian, any alignment). */
export function fromBytes(type: TensorType, bytes: Uint8Array): TensorData {
  const size = bytesPerElement(type);
  if (bytes.byteLength % size !== 0) throw new RangeError(`byte length ${bytes.byteLength} is not a multiple of ${size}`);
  const out = allocate(type, bytes.byteLength / size);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

/** A view of a tensor's bytes (no copy). */
export function toBytes(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Builds a tensor from plain numbers (or bigints / booleans), mostly for callers and tests. */
export function tensor(type: TensorType, dims: readonly number[], values: ArrayLike<number | bigint | boolean>): Tensor {
  const data = allocate(type, values.length);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i] as number | bigint);
  } else {
    for (let i = 0; i < values.length; i++) (data as Float32Array)[i] = Number(values[i]);
  }
  if (values.length !== elementCount(dims)) {
    throw new RangeError(`dims [${dims.join(',')}] need ${elementCount(dims)} values, got ${values.length}`);
  }
  return { type, dims: [...dims], data };
}

/** The tensor's values as plain numbers (bigints converted), for comparisons and JSON. */
export function toNumbers(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** The value used to fill padded positions, in the representation the typed array wants. */
export function fillValue(type: TensorType, value: number): number | bigint {
  return type === 'int64' || type === 'uint64' ? BigInt(Math.trunc(value)) : value;
}

/**
 * Copies `count` rows (slices along axis 0) starting at `start` into a new tensor that owns its
 * buffer, so it can be transferred or kept after the batch's buffer is gone.
 */
export function sliceRows(t: Tensor, start: number, count: number): Tensor {
  const rowSize = t.dims.length === 0 ? 1 : elementCount(t.dims.slice(1));
  const data = t.data.slice(start * rowSize, (start + count) * rowSize) as TensorData;
  return { type: t.type, dims: [count, ...t.dims.slice(1)], data };
}

/** Keeps the first `length` entries along `axis` (used to strip padding from outputs). */
export function narrow(t: Tensor, axis: number, length: number): Tensor {
  const full = t.dims[axis] ?? 0;
  if (length === full) return t;
  const outer = elementCount(t.dims.slice(0, axis));
  const inner = elementCount(t.dims.slice(axis + 1));
  const out = allocate(t.type, outer * length * inner);
  for (let o = 0; o < outer; o++) {
    const src = t.data.subarray(o * full * inner, o * full * inner + length * inner);
    (out as Float32Array).set(src as Float32Array, o * length * inner);
  }
  const dims = [...t.dims];
  dims[axis] = length;
  return { type: t.type, dims, data: out };
}
