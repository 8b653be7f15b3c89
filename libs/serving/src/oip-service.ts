/**
 * The Open Inference Protocol v2 (`inference.GRPCInferenceService`) over a {@link ModelRepository},
 * as plain async handlers `(request, ctx) => response` that the runtime binds to grpc-js.
 */
import { notFound, ServiceError } from '@aigc/runtime';
import type { inference } from '@aigc/proto';
import type { OnnxExecutor } from './executor.js';
import { ServedModel } from './served-model.js';
import { decodeInputs, encodeOutputs, intParameter } from './oip-codec.js';
import { toDatatype } from './tensor.js';
import { configFromSession, tensorTypeOf } from './model-config.js';

/** What every handler gets: one signal (deadline, client cancel, shutdown) and the call's deadline. */
export interface CallContext {
  signal: AbortSignal;
  deadline?: Date;
  requestId?: string;
}

/** An async unary handler. */
export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;

/** The handlers of `inference.GRPCInferenceService`. */
export interface InferenceHandlers {
  serverLive: UnaryHandler<inference.ServerLiveRequest, inference.ServerLiveResponse>;
  serverReady: UnaryHandler<inference.ServerReadyRequest, inference.ServerReadyResponse>;
  modelReady: UnaryHandler<inference.ModelReadyRequest, inference.ModelReadyResponse>;
  serverMetadata: UnaryHandler<inference.ServerMetadataRequest, inference.ServerMetadataResponse>;
  modelMetadata: UnaryHandler<inference.ModelMetadataRequest, inference.ModelMetadataResponse>;
  modelInfer: UnaryHandler<inference.ModelInferRequest, inference.ModelInferResponse>;
}

/**
 * The models a server answers for: a {@link ModelRepository} (models loaded from their folders) or
 * a {@link ModelSet} (models a service opened itself).
 */
export interface ModelRegistry {
  /** Open and not overloaded. */
  readonly ready: boolean;
  has(name: string, version?: number | string): boolean;
  /** The model now serving `name` (and `version`, when given); throws NOT_FOUND otherwise. */
  get(name: string, version?: number | string): ServedModel;
}

/** A fixed set of served models, e.g. the parts of an image model or a text server's embedder. */
export class ModelSet implements ModelRegistry {
  private readonly models = new Map<string, ServedModel>();

  constructor(models: Iterable<ServedModel>) {
    for (const m of models) this.models.set(m.name, m);
  }

  /**
   * Serves executors that a service opened for itself, each under a name, with the inputs and
   * outputs their sessions report and no batching ({@link configFromSession}).
   */
  static ofExecutors(parts: Iterable<{ name: string; executor: OnnxExecutor; version?: number }>): ModelSet {
    return new ModelSet([...parts].map((p) => ServedModel.over({ config: configFromSession(p.name, p.executor), version: p.version ?? 1, executor: p.executor })));
  }

  get ready(): boolean {
    return ![...this.models.values()].some((m) => m.overloaded);
  }

  has(name: string, version?: number | string): boolean {
    const m = this.models.get(name);
    return m !== undefined && (version === undefined || version === '' || String(version) === String(m.version));
  }

  get(name: string, version?: number | string): ServedModel {
    const m = this.models.get(name);
    if (!m) throw notFound(`model ${name} is not served here (serving: ${[...this.models.keys()].join(', ') || 'none'})`);
    if (!this.has(name, version)) throw notFound(`model ${name} version ${version} is not loaded (serving ${m.version})`);
    return m;
  }

  /** Drains every model's queue (their executors belong to whoever opened them). */
  async close(): Promise<void> {
    await Promise.all([...this.models.values()].map((m) => m.unload()));
  }
}

/** Options of {@link createInferenceHandlers}. */
export interface InferenceServiceOptions {
  /** ServerMetadata name; default `aigc-serving`. */
  serverName?: string;
  /** ServerMetadata version; default `0.1.0`. */
  serverVersion?: string;
  /** Extra readiness condition (e.g. the process is draining); ANDed with the repository's. */
  ready?: () => boolean;
}

/**
 * Handlers for every registered model. ServerReady turns false while any model's queues stay
 * saturated, so a load balancer can steer away. Request parameters: `priority` (1 = highest) and
 * `timeout` (microseconds, only shortens the model's queue timeout).
 */
export function createInferenceHandlers(repository: ModelRegistry, options: InferenceServiceOptions = {}): InferenceHandlers {
  return {
    serverLive: async () => ({ live: true }),
    serverReady: async () => ({ ready: repository.ready && (options.ready?.() ?? true) }),
    modelReady: async (request) => ({ ready: repository.has(request.name, request.version) }),
    serverMetadata: async () => ({
      name: options.serverName ?? 'aigc-serving',
      version: options.serverVersion ?? '0.1.0',
      extensions: [],
    }),
    modelMetadata: async (request) => {
      const model = repository.get(request.name, request.version);
      const batch = model.config.maxBatchSize > 0 ? [-1] : [];
      return {
        name: model.name,
        versions: [String(model.version)],
        platform: 'onnxruntime_onnx',
        inputs: model.config.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [...batch, ...i.dims] })),
        outputs: model.config.outputs.map((o) => ({ name: o.name, datatype: toDatatype(tensorTypeOf(o.datatype)), shape: [...batch, ...o.dims] })),
      };
    },
    modelInfer: async (request, ctx) => {
      if (!request.modelName) throw notFound('model_name is empty');
      const model = repository.get(request.modelName, request.modelVersion);
      const inputs = decodeInputs(request);
      const priority = intParameter(request.parameters, 'priority');
      const timeoutUs = intParameter(request.parameters, 'timeout');
      try {
        const outputs = await model.infer(inputs, {
          priority,
          timeoutMs: timeoutUs === undefined || timeoutUs === 0 ? undefined : timeoutUs / 1000,
          deadline: ctx.deadline?.getTime(),
          signal: ctx.signal,
          outputs: request.outputs.length > 0 ? request.outputs.map((o) => o.name) : undefined,
        });
        const raw = request.rawInputContents.length > 0;
        const encoded = encodeOutputs(outputs, raw);
        return { modelName: model.name, modelVersion: String(model.version), id: request.id, parameters: {}, ...encoded };
      } catch (err) {
        throw ServiceError.from(err);
      }
    },
  };
}

