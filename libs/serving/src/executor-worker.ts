/**
 * Worker-thread entry of an {@link OnnxExecutor}: owns one ONNX Runtime session and runs it,
 * one request at a time. `InferenceSession.run` blocks the thread that calls it, which is why it
 * lives here and never on the event loop. An optional extension module adds methods that run
 * beside the session and may keep state here between calls (see `WorkerExtension`).
 */
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import {
  transferables,
  type PrepareModel,
  type TensorInfo,
  type WorkerExtension,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from './executor-protocol.js';
import type { Tensor, TensorData, TensorMap, TensorType } from './tensor.js';

const port = parentPort;
if (!port) throw new Error('executor-worker must run in a worker thread');
const init = workerData as WorkerInit;

function post(reply: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(reply, transfer);
}

function describe(meta: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return meta.map((m) =>
    m.isTensor
      ? { name: m.name, type: m.type, dims: m.shape.map((d) => (typeof d === 'number' ? d : d)) }
      : { name: m.name, type: 'non-tensor', dims: [] },
  );
}

function providers(): ort.InferenceSession.ExecutionProviderConfig[] {
  return init.executionProviders.map((p) => (p.name === 'cuda' ? { name: 'cuda', deviceId: p.deviceId ?? 0 } : 'cpu'));
}

/** The extension's methods (its `handlers` export, else its default export) and model rewrite. */
async function loadExtension(specifier: string): Promise<{ handlers: WorkerExtension; prepareModel?: PrepareModel }> {
  const mod = (await import(specifier)) as { handlers?: unknown; default?: unknown; prepareModel?: unknown };
  const handlers = mod.handlers ?? mod.default;
  if (!handlers || typeof handlers !== 'object') throw new Error(`extension ${specifier} exports no handlers`);
  if (mod.prepareModel !== undefined && typeof mod.prepareModel !== 'function') throw new Error(`extension ${specifier}: prepareModel is not a function`);
  return { handlers: handlers as WorkerExtension, prepareModel: mod.prepareModel as PrepareModel | undefined };
}

let session: ort.InferenceSession;
let extension: WorkerExtension = {};
try {
  const loaded = init.extension ? await loadExtension(init.extension) : undefined;
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: init.intraOpThreads,
    interOpNumThreads: init.interOpThreads,
    executionProviders: providers(),
    graphOptimizationLevel: 'all',
  };
  const prepared = loaded?.prepareModel ? await loaded.prepareModel(new Uint8Array(await readFile(init.modelPath))) : undefined;
  session = prepared ? await ort.InferenceSession.create(prepared, options) : await ort.InferenceSession.create(init.modelPath, options);
  extension = loaded?.handlers ?? {};
  post({ kind: 'ready', inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) });
} catch (err) {
  post({ kind: 'load-failed', message: err instanceof Error ? err.message : String(err) });
  process.exit(0);
}

// Requests run one at a time in arrival order: a pipelined call can arrive while an earlier
// one awaits its session.run, and both use the same session and extension state.
let tail: Promise<void> = Promise.resolve();
port.on('message', (msg: WorkerRequest) => {
  tail = tail.then(() => handle(msg)).catch(() => undefined);
});

function handle(msg: WorkerRequest): Promise<void> {
  if (msg.kind === 'close') {
    return session.release().finally(() => {
      post({ kind: 'closed' });
      port!.close();
    });
  }
  if (msg.kind === 'call') return call(msg.id, msg.method, msg.args);
  return run(msg.id, msg.feeds, msg.outputs);
}

async function call(id: number, method: string, args: unknown): Promise<void> {
  const started = performance.now();
  try {
    const handler = Object.hasOwn(extension, method) ? extension[method] : undefined;
    if (!handler) throw new Error(`no worker extension method ${method}`);
    const result = await handler(args, { session, ort, instance: init.instance });
    post({ kind: 'returned', id, value: result.value, computeMs: result.computeMs ?? performance.now() - started }, result.transfer ?? []);
  } catch (err) {
    post({ kind: 'failed', id, message: err instanceof Error ? err.message : String(err) });
  }
}

async function run(id: number, feeds: TensorMap, outputNames?: string[]): Promise<void> {
  const started = performance.now();
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) {
      ortFeeds[name] = new ort.Tensor(t.type, t.data as ort.Tensor.DataType, t.dims);
    }
    const result = outputNames ? await session.run(ortFeeds, outputNames) : await session.run(ortFeeds);
    const outputs: TensorMap = {};
    for (const [name, value] of Object.entries(result)) {
      const data = value.data as TensorData;
      // Copy views so the whole buffer can be transferred without detaching anything shared.
      const owned = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : (data.slice() as TensorData);
      outputs[name] = { type: value.type as TensorType, dims: [...value.dims], data: owned } satisfies Tensor;
    }
    post({ kind: 'result', id, outputs, computeMs: performance.now() - started }, transferables(Object.values(outputs)));
  } catch (err) {
    post({ kind: 'failed', id, message: err instanceof Error ? err.message : String(err) });
  }
}
