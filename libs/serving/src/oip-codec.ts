/**
 * Open Inference Protocol v2 tensors <-> serving tensors: typed `contents` and
 * `raw_input_contents`/`raw_output_contents` (little-endian, row-major), with errors that name the input.
 */
import { invalidArgument } from '@aigc/runtime';
import type { inference } from '@aigc/proto';
import { bytesPerElement, elementCount, fromBytes, fromDatatype, tensor, toBytes, toDatatype, type Tensor, type TensorMap, type TensorType } from './tensor.js';

type Contents = inference.InferTensorContents;
type ContentsField = keyof Contents;

/** The typed-contents field that carries each tensor type. */
const FIELD: Record<TensorType, ContentsField> = {
  float32: 'fp32Contents',
  float64: 'fp64Contents',
  int8: 'intContents',
  int16: 'intContents',
  int32: 'intContents',
  int64: 'int64Contents',
  uint8: 'uintContents',
  uint16: 'uintContents',
  uint32: 'uintContents',
  uint64: 'uint64Contents',
  bool: 'boolContents',
};

/** Empty typed contents (every field present, as ts-proto messages expect). */
export function emptyContents(): Contents {
  return { boolContents: [], intContents: [], int64Contents: [], uintContents: [], uint64Contents: [], fp32Contents: [], fp64Contents: [], bytesContents: [] };
}

/** Decodes a ModelInfer request's input tensors; INVALID_ARGUMENT names the bad input. */
export function decodeInputs(request: inference.ModelInferRequest): TensorMap {
  const raw = request.rawInputContents ?? [];
  if (raw.length > 0 && raw.length !== request.inputs.length) {
    throw invalidArgument(`raw_input_contents has ${raw.length} entries for ${request.inputs.length} inputs`);
  }
  const tensors: TensorMap = {};
  request.inputs.forEach((input, i) => {
    const type = fromDatatype(input.datatype);
    if (!type) throw invalidArgument(`input "${input.name}" has unsupported datatype "${input.datatype}"`);
    const dims = input.shape.map(Number);
    if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw invalidArgument(`input "${input.name}" has a bad shape [${input.shape.join(',')}]`);
    if (tensors[input.name]) throw invalidArgument(`input "${input.name}" is given twice`);
    const count = elementCount(dims);
    if (raw.length > 0) {
      const bytes = raw[i]!;
      const want = count * bytesPerElement(type);
      if (bytes.byteLength !== want) {
        throw invalidArgument(`input "${input.name}" has ${bytes.byteLength} raw bytes; shape [${dims.join(',')}] of ${input.datatype} needs ${want}`);
      }
      tensors[input.name] = { type, dims, data: fromBytes(type, bytes) };
      return;
    }
    const values = (input.contents?.[FIELD[type]] ?? []) as ArrayLike<number | boolean>;
    if (values.length !== count) {
      throw invalidArgument(`input "${input.name}" has ${values.length} values in contents.${FIELD[type]}; shape [${dims.join(',')}] needs ${count}`);
    }
    tensors[input.name] = tensor(type, dims, values);
  });
  return tensors;
}

/** Encodes output tensors as raw bytes (`raw`) or typed contents. */
export function encodeOutputs(
  outputs: TensorMap,
  raw: boolean,
): { outputs: inference.ModelInferResponse_InferOutputTensor[]; rawOutputContents: Buffer[] } {
  const encoded: inference.ModelInferResponse_InferOutputTensor[] = [];
  const rawOutputContents: Buffer[] = [];
  for (const [name, t] of Object.entries(outputs)) {
    encoded.push({ name, datatype: toDatatype(t.type), shape: [...t.dims], parameters: {}, contents: raw ? undefined : toContents(t) });
    if (raw) rawOutputContents.push(Buffer.from(toBytes(t.data)));
  }
  return { outputs: encoded, rawOutputContents };
}

function toContents(t: Tensor): Contents {
  const contents = emptyContents();
  const field = FIELD[t.type];
  const values = Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
  (contents[field] as unknown[]) = t.type === 'bool' ? values.map((v) => v !== 0) : values;
  return contents;
}

/** Reads an integer request parameter (`priority`, `timeout`), accepting int64 or numeric string. */
export function intParameter(parameters: Record<string, inference.InferParameter> | undefined, key: string): number | undefined {
  const choice = parameters?.[key]?.parameterChoice;
  if (!choice) return undefined;
  const value = choice.$case === 'int64Param' ? choice.int64Param : choice.$case === 'stringParam' ? Number(choice.stringParam) : NaN;
  if (!Number.isFinite(value) || value < 0 || !Number.isInteger(value)) throw invalidArgument(`parameter "${key}" must be a non-negative integer`);
  return value;
}
