/**
 * A model's `config.json`: inputs, outputs, batching, instances and execution providers, with a
 * validator whose messages name the bad field (`batching.queuePolicies[1].maxQueueSize ...`).
 */
import type { ExecutionProviderConfig } from './executor-protocol.js';
import { fromDatatype, toDatatype, type TensorType } from './tensor.js';

/** A model input. `dims` excludes the batch dimension; `-1` is variable. */
export interface InputConfig {
  name: string;
  /** Open Inference Protocol datatype: FP32, FP64, INT8, INT16, INT32, INT64, UINT8..UINT64, BOOL. */
  datatype: string;
  dims: number[];
  /** Variable-length axis (index into `dims`) padded with `padValue` (default 0) when batching. */
  ragged?: { axis: number; padValue?: number };
  /** This input is the mask of that input: the server makes it (ones) when the caller omits it. */
  maskFor?: string;
}

/** A model output. `raggedLike` strips padding: `axis` is cut back to the request's length of `input`. */
export interface OutputConfig {
  name: string;
  datatype: string;
  dims: number[];
  raggedLike?: { input: string; axis: number };
}

/** Limits of one priority level (index 0 = priority 1, the highest). */
export interface QueuePolicyConfig {
  maxQueueSize: number;
  defaultTimeoutMs?: number;
}

/** How requests are grouped into batches. */
export interface BatchingConfig {
  /** Longest the oldest request waits for a batch to fill (the adaptive mode's ceiling). */
  maxQueueDelayMs: number;
  preferredBatchSizes?: number[];
  preserveOrdering?: boolean;
  /** Budget of cost units per batch (see `cost`). */
  maxBatchCost?: number;
  /** A row's cost is its length along `axis` of `input` (e.g. tokens); default 1 per row. */
  cost?: { input: string; axis: number };
  /** Shape buckets: pad `input`'s `axis` up to the smallest size that fits; batch within a bucket. */
  shapeBuckets?: { input: string; axis: number; sizes: number[] };
  /** Pick the queue delay from measured latency to meet this end-to-end target. */
  adaptive?: { targetLatencyMs: number };
  priorityLevels: number;
  defaultPriority?: number;
  queuePolicies: QueuePolicyConfig[];
  /** Overload signal: queue depth over `threshold` of capacity for `holdMs` (defaults 0.8, 500). */
  saturation?: { threshold?: number; holdMs?: number };
}

/** The whole `config.json` of a model. */
export interface ModelConfig {
  name: string;
  platform: 'onnxruntime';
  /** Version to serve; default the highest numbered directory. */
  version?: number;
  /** Most rows per batch; 0 disables batching (inputs then carry no batch dimension). */
  maxBatchSize: number;
  inputs: InputConfig[];
  outputs: OutputConfig[];
  batching: BatchingConfig;
  instances: { count: number; intraOpThreads: number; interOpThreads: number };
  executionProviders: ExecutionProviderConfig[];
}

/** A config that does not validate; `field` is the path of the first bad field. */
export class ModelConfigError extends Error {
  override readonly name = 'ModelConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

type Json = Record<string, unknown>;

const fail = (field: string, message: string, got?: unknown): never => {
  throw new ModelConfigError(field, got === undefined ? message : `${message} (got ${JSON.stringify(got)})`);
};
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
function obj(v: unknown, field: string): Json {
  return isObject(v) ? v : fail(field, 'must be an object', v);
}
function str(v: unknown, field: string): string {
  return typeof v === 'string' && v.length > 0 ? v : fail(field, 'must be a non-empty string', v);
}
function int(v: unknown, field: string, min: number, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  return Number.isInteger(v) && (v as number) >= min ? (v as number) : fail(field, `must be an integer >= ${min}`, v);
}
function num(v: unknown, field: string, min: number, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  return typeof v === 'number' && Number.isFinite(v) && v >= min ? v : fail(field, `must be a number >= ${min}`, v);
}
function arr(v: unknown, field: string): unknown[] {
  return Array.isArray(v) ? v : fail(field, 'must be an array', v);
}
function datatype(v: unknown, field: string): string {
  const s = str(v, field);
  return fromDatatype(s) ? s : fail(field, 'must be one of FP32, FP64, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, BOOL', v);
}
function dims(v: unknown, field: string): number[] {
  return arr(v, field).map((d, i) => (d === -1 ? -1 : int(d, `${field}[${i}]`, 1)));
}
function axisOf(v: unknown, field: string, rank: number): number {
  const a = int(v, field, 0);
  return a < rank ? a : fail(field, `must index the tensor's dims (rank ${rank})`, v);
}

/** The tensor type of a validated config datatype. */
export function tensorTypeOf(dt: string): TensorType {
  return fromDatatype(dt)!;
}

/**
 * Validates a parsed `config.json` and fills defaults. `dirName` is the model's directory name,
 * which the config's `name` (if given) must match. Throws {@link ModelConfigError}.
 */
export function parseModelConfig(raw: unknown, dirName: string): ModelConfig {
  const c = obj(raw, '(config)');
  const name = c.name === undefined ? dirName : str(c.name, 'name');
  if (name !== dirName) fail('name', `must match the model directory "${dirName}"`, name);
  const platform = c.platform ?? 'onnxruntime';
  if (platform !== 'onnxruntime') fail('platform', 'must be "onnxruntime"', platform);
  const version = c.version === undefined ? undefined : int(c.version, 'version', 1);
  const maxBatchSize = int(c.maxBatchSize, 'maxBatchSize', 0, 0);

  const inputs = arr(c.inputs, 'inputs').map((v, i): InputConfig => {
    const f = `inputs[${i}]`;
    const o = obj(v, f);
    const d = dims(o.dims, `${f}.dims`);
    const input: InputConfig = { name: str(o.name, `${f}.name`), datatype: datatype(o.datatype, `${f}.datatype`), dims: d };
    if (o.ragged !== undefined) {
      const r = obj(o.ragged, `${f}.ragged`);
      const axis = axisOf(r.axis, `${f}.ragged.axis`, d.length);
      if (d[axis] !== -1) fail(`${f}.ragged.axis`, 'must point at a variable (-1) dim', axis);
      input.ragged = { axis, padValue: num(r.padValue ?? 0, `${f}.ragged.padValue`, -Infinity) };
    }
    if (o.maskFor !== undefined) input.maskFor = str(o.maskFor, `${f}.maskFor`);
    return input;
  });
  if (inputs.length === 0) fail('inputs', 'must list at least one input');
  const inputNames = new Set<string>();
  inputs.forEach((input, i) => {
    if (inputNames.has(input.name)) fail(`inputs[${i}].name`, 'is a duplicate', input.name);
    inputNames.add(input.name);
  });
  inputs.forEach((input, i) => {
    if (input.maskFor === undefined) return;
    const target = inputs.find((x) => x.name === input.maskFor);
    if (!target) fail(`inputs[${i}].maskFor`, 'must name another input', input.maskFor);
    if (target!.dims.length !== input.dims.length) fail(`inputs[${i}].dims`, `must have the rank of ${input.maskFor}`, input.dims);
  });

  const outputs = arr(c.outputs, 'outputs').map((v, i): OutputConfig => {
    const f = `outputs[${i}]`;
    const o = obj(v, f);
    const d = dims(o.dims, `${f}.dims`);
    const output: OutputConfig = { name: str(o.name, `${f}.name`), datatype: datatype(o.datatype, `${f}.datatype`), dims: d };
    if (o.raggedLike !== undefined) {
      const r = obj(o.raggedLike, `${f}.raggedLike`);
      const input = str(r.input, `${f}.raggedLike.input`);
      const source = inputs.find((x) => x.name === input);
      if (!source?.ragged) fail(`${f}.raggedLike.input`, 'must name a ragged input', input);
      output.raggedLike = { input, axis: axisOf(r.axis, `${f}.raggedLike.axis`, d.length) };
    }
    return output;
  });
  if (outputs.length === 0) fail('outputs', 'must list at least one output');
  if (maxBatchSize === 0 && inputs.some((x) => x.ragged)) fail('inputs', 'ragged inputs need maxBatchSize >= 1');

  const b = c.batching === undefined ? {} : obj(c.batching, 'batching');
  const priorityLevels = int(b.priorityLevels, 'batching.priorityLevels', 1, 1);
  const rawPolicies = b.queuePolicies === undefined ? [{}] : arr(b.queuePolicies, 'batching.queuePolicies');
  if (rawPolicies.length !== 1 && rawPolicies.length !== priorityLevels) {
    fail('batching.queuePolicies', `must have 1 or priorityLevels (${priorityLevels}) entries`, rawPolicies.length);
  }
  const queuePolicies = Array.from({ length: priorityLevels }, (_, i) => {
    const at = rawPolicies.length === 1 ? 0 : i;
    const f = `batching.queuePolicies[${at}]`;
    const p = obj(rawPolicies[at], f);
    const policy: QueuePolicyConfig = { maxQueueSize: int(p.maxQueueSize, `${f}.maxQueueSize`, 1, 1024) };
    if (p.defaultTimeoutMs !== undefined) policy.defaultTimeoutMs = num(p.defaultTimeoutMs, `${f}.defaultTimeoutMs`, 1);
    return policy;
  });
  const batching: BatchingConfig = {
    maxQueueDelayMs: num(b.maxQueueDelayMs, 'batching.maxQueueDelayMs', 0, 0),
    priorityLevels,
    queuePolicies,
    preserveOrdering: b.preserveOrdering === undefined ? false : b.preserveOrdering === true || fail('batching.preserveOrdering', 'must be a boolean', b.preserveOrdering),
  };
  if (b.defaultPriority !== undefined) {
    batching.defaultPriority = int(b.defaultPriority, 'batching.defaultPriority', 1);
    if (batching.defaultPriority > priorityLevels) fail('batching.defaultPriority', `must be <= priorityLevels (${priorityLevels})`, b.defaultPriority);
  }
  if (b.preferredBatchSizes !== undefined) {
    batching.preferredBatchSizes = arr(b.preferredBatchSizes, 'batching.preferredBatchSizes').map((v, i) => {
      const n = int(v, `batching.preferredBatchSizes[${i}]`, 1);
      return n <= Math.max(1, maxBatchSize) ? n : fail(`batching.preferredBatchSizes[${i}]`, `must be <= maxBatchSize (${maxBatchSize})`, n);
    });
  }
  if (b.maxBatchCost !== undefined) batching.maxBatchCost = num(b.maxBatchCost, 'batching.maxBatchCost', 1);
  for (const key of ['cost', 'shapeBuckets'] as const) {
    if (b[key] === undefined) continue;
    const o = obj(b[key], `batching.${key}`);
    const input = inputs.find((x) => x.name === o.input);
    if (!input) fail(`batching.${key}.input`, 'must name an input', o.input);
    const axis = axisOf(o.axis, `batching.${key}.axis`, input!.dims.length);
    if (key === 'cost') batching.cost = { input: input!.name, axis };
    else {
      if (input!.ragged?.axis !== axis) fail('batching.shapeBuckets.axis', `must be the ragged axis of ${input!.name}`, axis);
      const sizes = arr(o.sizes, 'batching.shapeBuckets.sizes').map((v, i) => int(v, `batching.shapeBuckets.sizes[${i}]`, 1));
      if (sizes.length === 0 || sizes.some((s, i) => i > 0 && s <= sizes[i - 1]!)) fail('batching.shapeBuckets.sizes', 'must be a non-empty ascending list', sizes);
      batching.shapeBuckets = { input: input!.name, axis, sizes };
    }
  }
  if (b.adaptive !== undefined) {
    const a = obj(b.adaptive, 'batching.adaptive');
    batching.adaptive = { targetLatencyMs: num(a.targetLatencyMs, 'batching.adaptive.targetLatencyMs', 1) };
  }
  if (b.saturation !== undefined) {
    const s = obj(b.saturation, 'batching.saturation');
    batching.saturation = {
      threshold: num(s.threshold ?? 0.8, 'batching.saturation.threshold', 0.01),
      holdMs: num(s.holdMs ?? 500, 'batching.saturation.holdMs', 0),
    };
    if (batching.saturation.threshold! > 1) fail('batching.saturation.threshold', 'must be <= 1', s.threshold);
  }

  const inst = c.instances === undefined ? {} : obj(c.instances, 'instances');
  const instances = {
    count: int(inst.count, 'instances.count', 1, 1),
    intraOpThreads: int(inst.intraOpThreads, 'instances.intraOpThreads', 1, 1),
    interOpThreads: int(inst.interOpThreads, 'instances.interOpThreads', 1, 1),
  };
  const rawProviders = c.executionProviders === undefined ? [{ name: 'cpu' }] : arr(c.executionProviders, 'executionProviders');
  const executionProviders = rawProviders.map((v, i): ExecutionProviderConfig => {
    const f = `executionProviders[${i}]`;
    const p = obj(v, f);
    if (p.name === 'cpu') return { name: 'cpu' };
    if (p.name === 'cuda') return { name: 'cuda', deviceId: int(p.deviceId, `${f}.deviceId`, 0, 0) };
    return fail(`${f}.name`, 'must be "cpu" or "cuda"', p.name);
  });
  if (executionProviders.length === 0) fail('executionProviders', 'must list at least one provider');

  const config: ModelConfig = { name, platform: 'onnxruntime', maxBatchSize, inputs, outputs, batching, instances, executionProviders };
  if (version !== undefined) config.version = version;
  return config;
}

/**
 * The config of a model that has no `config.json`: inputs and outputs as its ONNX session reports
 * them (symbolic dims become -1), no batching (`maxBatchSize` 0: callers send whole tensors,
 * batch dimension included), one priority level with a queue of `maxQueueSize`.
 */
export function configFromSession(
  name: string,
  session: { inputs: readonly { name: string; type: string; dims: readonly (number | string)[] }[]; outputs: readonly { name: string; type: string; dims: readonly (number | string)[] }[]; instanceCount?: number },
  options: { maxQueueSize?: number } = {},
): ModelConfig {
  const io = (t: { name: string; type: string; dims: readonly (number | string)[] }, kind: string) => {
    const datatype = toDatatype(t.type as TensorType) as string | undefined;
    if (!datatype || !fromDatatype(datatype)) throw new ModelConfigError(`${kind}s`, `${kind} ${t.name} of model ${name} has type ${t.type}, which the Open Inference Protocol codec does not carry`);
    return { name: t.name, datatype, dims: t.dims.map((d) => (typeof d === 'number' && d > 0 ? d : -1)) };
  };
  return {
    name,
    platform: 'onnxruntime',
    maxBatchSize: 0,
    inputs: session.inputs.map((t) => io(t, 'input')),
    outputs: session.outputs.map((t) => io(t, 'output')),
    batching: { maxQueueDelayMs: 0, priorityLevels: 1, queuePolicies: [{ maxQueueSize: options.maxQueueSize ?? 64 }], preserveOrdering: false },
    instances: { count: session.instanceCount ?? 1, intraOpThreads: 1, interOpThreads: 1 },
    executionProviders: [{ name: 'cpu' }],
  };
}
