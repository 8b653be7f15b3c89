/**
 * Worker-thread entry of an {@link OnnxExecutor}: owns one ONNX Runtime session and runs it,
 * one request at a time. `InferenceSession.run` blocks the thread that calls it, which is why it
 * lives here and never on the event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { transferables, type TensorInfo, type WorkerInit, type WorkerReply, type WorkerRequest } from './executor-protocol.js';
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

let session: ort.InferenceSession;
try {
  session = await ort.InferenceSession.create(init.modelPath, {
    intraOpNumThreads: init.intraOpThreads,
    interOpNumThreads: init.interOpThreads,
    executionProviders: providers(),
    graphOptimizationLevel: 'all',
  });
  post({ kind: 'ready', inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) });
} catch (err) {
  post({ kind: 'load-failed', message: err instanceof Error ? err.message : String(err) });
  process.exit(0);
}

port.on('message', (msg: WorkerRequest) => {
  if (msg.kind === 'close') {
    void session.release().finally(() => {
      post({ kind: 'closed' });
      port.close();
    });
    return;
  }
  void run(msg.id, msg.feeds, msg.outputs);
});

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
