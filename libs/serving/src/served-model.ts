/**
 * One loaded version of a model: its executor (worker-thread sessions) behind its batcher, and
 * the checks that turn a caller's tensors into a batchable request (INVALID_ARGUMENT naming the input).
 */
import { invalidArgument, type ServiceError } from '@aigc/runtime';
import { assembleBatch, splitBatch, type PreparedRequest } from './batch-assembly.js';
import { DynamicBatcher, type BatcherObserver } from './dynamic-batcher.js';
import { createExecutor, type OnnxExecutor } from './executor.js';
import { silentLogger, type Logger } from './logger.js';
import { tensorTypeOf, type ModelConfig } from './model-config.js';
import { allocate, elementCount, fillValue, toDatatype, type TensorMap } from './tensor.js';

/** Per-request options of {@link ServedModel.infer}. */
export interface InferOptions {
  /** 1 = highest; 0 or absent = the model's default level. */
  priority?: number;
  /** Queue timeout in ms; only shortens the model's default. */
  timeoutMs?: number;
  /** Absolute deadline, epoch ms. */
  deadline?: number;
  /** Client cancel or deadline; the request leaves the queue when it fires. */
  signal?: AbortSignal;
  /** Only these outputs; default all. */
  outputs?: string[];
}

/** Options of {@link ServedModel.load}. */
export interface ServedModelOptions {
  config: ModelConfig;
  version: number;
  modelPath: string;
  logger?: Logger;
  observer?: BatcherObserver;
}

/** A model version that is loaded and serving. */
export class ServedModel {
  readonly name: string;
  private readonly batcher: DynamicBatcher<PreparedRequest, TensorMap>;

  private constructor(
    readonly config: ModelConfig,
    readonly version: number,
    readonly executor: OnnxExecutor,
    logger: Logger,
    observer?: BatcherObserver,
    private readonly ownsExecutor = true,
  ) {
    this.name = config.name;
    const b = config.batching;
    this.batcher = new DynamicBatcher<PreparedRequest, TensorMap>({
      name: config.name,
      runBatch: async (requests) => {
        const { outputs } = await executor.run(assembleBatch(config, requests), { transfer: true });
        return splitBatch(config, outputs, requests);
      },
      maxBatchSize: Math.max(1, config.maxBatchSize),
      maxBatchCost: b.maxBatchCost,
      costMode: config.inputs.some((i) => i.ragged) && !b.shapeBuckets ? 'padded' : 'sum',
      maxQueueDelayMs: b.maxQueueDelayMs,
      preferredBatchSizes: b.preferredBatchSizes,
      priorityLevels: b.priorityLevels,
      defaultPriority: b.defaultPriority,
      queuePolicy: b.queuePolicies,
      preserveOrdering: b.preserveOrdering,
      maxConcurrentBatches: executor.instanceCount,
      adaptive: b.adaptive,
      saturation: b.saturation,
      observer,
      logger,
    });
  }

  /** Opens the sessions of one version; rejects when the ONNX file does not load or does not match the config. */
  static async load(options: ServedModelOptions): Promise<ServedModel> {
    const { config } = options;
    const logger = options.logger ?? silentLogger;
    const executor = await createExecutor({
      modelPath: options.modelPath,
      instances: config.instances.count,
      intraOpThreads: config.instances.intraOpThreads,
      interOpThreads: config.instances.interOpThreads,
      executionProviders: config.executionProviders,
      name: `${config.name}@${options.version}`,
      logger,
    });
    const mismatch = checkAgainstSession(config, executor);
    if (mismatch) {
      await executor.close();
      throw invalidArgument(`model ${config.name} version ${options.version}: ${mismatch}`);
    }
    return new ServedModel(config, options.version, executor, logger, options.observer);
  }

  /**
   * Serves requests through an executor that something else opened and closes (an image model's
   * denoiser, a voice): its own batcher and checks in front of the same worker sessions, so the
   * Open Inference Protocol can reach the parts a service drives itself. {@link unload} drains the
   * batcher and leaves the executor open.
   */
  static over(options: { config: ModelConfig; version: number; executor: OnnxExecutor; logger?: Logger; observer?: BatcherObserver }): ServedModel {
    const mismatch = checkAgainstSession(options.config, options.executor);
    if (mismatch) throw invalidArgument(`model ${options.config.name} version ${options.version}: ${mismatch}`);
    return new ServedModel(options.config, options.version, options.executor, options.logger ?? silentLogger, options.observer, false);
  }

  /** Requests waiting in this model's queues. */
  get queueDepth(): number {
    return this.batcher.queueDepth;
  }

  /** Requests inside running batches. */
  get inFlight(): number {
    return this.batcher.inFlight;
  }

  /** True while this model's queues stay saturated. */
  get overloaded(): boolean {
    return this.batcher.overloaded;
  }

  /** The queue delay in force (changes in adaptive mode). */
  get queueDelayMs(): number {
    return this.batcher.queueDelayMs;
  }

  /** Checks the tensors, queues them for a batch and resolves with this request's outputs. */
  infer(inputs: TensorMap, options: InferOptions = {}): Promise<TensorMap> {
    let prepared: PreparedRequest;
    let key: string;
    let cost: number;
    try {
      ({ prepared, key, cost } = this.prepare(inputs));
      if (options.outputs) {
        for (const name of options.outputs) {
          if (!this.config.outputs.some((o) => o.name === name)) throw invalidArgument(`unknown output "${name}" of model ${this.name}`);
        }
      }
    } catch (err) {
      return Promise.reject(err as ServiceError);
    }
    const submitted = this.batcher.submit(prepared, {
      priority: options.priority,
      timeoutMs: options.timeoutMs,
      deadline: options.deadline,
      signal: options.signal,
      size: prepared.rows,
      cost,
      key,
    });
    const wanted = options.outputs;
    if (!wanted || wanted.length === 0) return submitted;
    return submitted.then((all) => Object.fromEntries(wanted.map((n) => [n, all[n]!])));
  }

  /** Stops taking requests, finishes queued and running ones, closes the sessions. */
  async unload(): Promise<void> {
    await this.batcher.drain();
    if (this.ownsExecutor) await this.executor.close();
  }

  private prepare(inputs: TensorMap): { prepared: PreparedRequest; key: string; cost: number } {
    const { config } = this;
    const batched = config.maxBatchSize > 0;
    for (const name of Object.keys(inputs)) {
      if (!config.inputs.some((i) => i.name === name)) throw invalidArgument(`unknown input "${name}" of model ${this.name}`);
    }
    const feeds: TensorMap = {};
    const lengths: Record<string, number> = {};
    const keyParts: string[] = [];
    let rows = 1;
    for (const input of [...config.inputs].sort((a, b) => Number(a.maskFor !== undefined) - Number(b.maskFor !== undefined))) {
      let t = inputs[input.name];
      if (!t && input.maskFor && feeds[input.maskFor]) {
        const like = feeds[input.maskFor]!;
        const type = tensorTypeOf(input.datatype);
        const data = allocate(type, elementCount(like.dims));
        (data as Float32Array).fill(fillValue(type, 1) as number);
        t = { type, dims: [...like.dims], data };
      }
      if (!t) throw invalidArgument(`missing input "${input.name}" of model ${this.name}`);
      const expectedType = tensorTypeOf(input.datatype);
      if (t.type !== expectedType) {
        throw invalidArgument(`input "${input.name}" has datatype ${toDatatype(t.type)}; model ${this.name} expects ${input.datatype}`);
      }
      const rank = input.dims.length + (batched ? 1 : 0);
      const shape = `[${t.dims.join(',')}]`;
      const wantShape = `[${batched ? '-1,' : ''}${input.dims.join(',')}]`;
      if (t.dims.length !== rank || t.dims.some((d) => !Number.isInteger(d) || d < 1)) {
        throw invalidArgument(`input "${input.name}" has shape ${shape}; model ${this.name} expects ${wantShape}`);
      }
      input.dims.forEach((d, i) => {
        if (d !== -1 && t.dims[i + (batched ? 1 : 0)] !== d) {
          throw invalidArgument(`input "${input.name}" has shape ${shape}; model ${this.name} expects ${wantShape}`);
        }
      });
      if (t.data.length !== elementCount(t.dims)) {
        throw invalidArgument(`input "${input.name}" has ${t.data.length} values for shape ${shape}`);
      }
      if (batched) {
        if (input === config.inputs[0]) rows = t.dims[0]!;
        else if (t.dims[0] !== rows) throw invalidArgument(`input "${input.name}" has batch ${t.dims[0]}, other inputs have ${rows}`);
      }
      input.dims.forEach((d, i) => {
        if (d !== -1) return;
        const size = t.dims[i + (batched ? 1 : 0)]!;
        if (input.ragged?.axis === i) lengths[input.name] = size;
        else keyParts.push(`${input.name}.${i}=${size}`);
      });
      feeds[input.name] = t;
    }
    for (const input of config.inputs) {
      if (input.maskFor && input.ragged && lengths[input.name] !== lengths[input.maskFor]) {
        throw invalidArgument(`input "${input.name}" must have the length of "${input.maskFor}"`);
      }
    }
    const prepared: PreparedRequest = { feeds, rows, lengths };
    const buckets = config.batching.shapeBuckets;
    let rowCost = 1;
    if (buckets) {
      const length = feeds[buckets.input]!.dims[buckets.axis + 1]!;
      const bucket = buckets.sizes.find((s) => s >= length);
      if (bucket === undefined) throw invalidArgument(`input "${buckets.input}" length ${length} exceeds the largest shape bucket ${buckets.sizes.at(-1)}`);
      for (const [name, len] of Object.entries(lengths)) {
        if (len > bucket) throw invalidArgument(`input "${name}" length ${len} exceeds its shape bucket ${bucket}`);
      }
      prepared.bucket = bucket;
      keyParts.push(`bucket=${bucket}`);
      rowCost = bucket;
    }
    const costBy = config.batching.cost;
    if (costBy && !buckets) rowCost = feeds[costBy.input]!.dims[costBy.axis + (batched ? 1 : 0)]!;
    return { prepared, key: keyParts.join(';'), cost: rowCost };
  }
}

/** Names an input or output that the config lists and the ONNX session lacks (or vice versa). */
function checkAgainstSession(config: ModelConfig, executor: OnnxExecutor): string | undefined {
  for (const input of config.inputs) {
    const found = executor.inputs.find((i) => i.name === input.name);
    if (!found) return `config input "${input.name}" is not an input of the ONNX model (it has ${executor.inputs.map((i) => i.name).join(', ')})`;
    if (found.type !== tensorTypeOf(input.datatype)) return `config input "${input.name}" is ${input.datatype} but the ONNX model has ${found.type}`;
  }
  for (const output of config.outputs) {
    if (!executor.outputs.some((o) => o.name === output.name)) return `config output "${output.name}" is not an output of the ONNX model`;
  }
  return undefined;
}
