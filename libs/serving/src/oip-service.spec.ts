import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inference } from '@aigc/proto';
import { Status } from '@aigc/runtime';
import { ModelRepository } from './model-repository.js';
import { emptyContents } from './oip-codec.js';
import { createInferenceHandlers } from './oip-service.js';
import { startTestServer, type TestServer } from './test-support/grpc-adapter.js';
import { TEST_MODELS } from './test-support/models.js';
import { itersFor } from './test-support/spin-runner.js';

type Client = inference.GRPCInferenceServiceClient;

/** Promisified unary call on the generated client. */
function call<Req, Res>(client: Client, method: string, request: Req, options: Partial<grpc.CallOptions> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, Function>)[method]!.call(client, request, new grpc.Metadata(), options, (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)));
  });
}

const f32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);
const inferRequest = (partial: Partial<inference.ModelInferRequest>): inference.ModelInferRequest =>
  inference.ModelInferRequest.fromPartial(partial);
const spinRequest = (iters: number, extra: Partial<inference.ModelInferRequest> = {}) =>
  inferRequest({
    modelName: 'spin',
    inputs: [
      { name: 'x', datatype: 'FP32', shape: [1, 4] },
      { name: 'iters', datatype: 'INT64', shape: [1, 1] },
    ],
    rawInputContents: [f32([1, 2, 3, 4]), Buffer.from(new BigInt64Array([BigInt(iters)]).buffer)],
    ...extra,
  });

describe('Open Inference Protocol service over gRPC', () => {
  let repo: ModelRepository;
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    repo = new ModelRepository({ root: TEST_MODELS });
    await repo.loadAll();
    const handlers = createInferenceHandlers(repo, { serverName: 'test-serving' });
    server = await startTestServer(inference.GRPCInferenceServiceService, handlers as never);
    client = new inference.GRPCInferenceServiceClient(server.address, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await server.close();
    await repo.close();
  });

  it('answers ServerLive, ServerReady, ModelReady and ServerMetadata', async () => {
    expect(await call(client, 'serverLive', {})).toEqual({ live: true });
    expect(await call(client, 'serverReady', {})).toEqual({ ready: true });
    expect(await call(client, 'modelReady', { name: 'add_one', version: '' })).toEqual({ ready: true });
    expect(await call(client, 'modelReady', { name: 'add_one', version: '1' })).toEqual({ ready: false });
    expect(await call(client, 'modelReady', { name: 'missing', version: '' })).toEqual({ ready: false });
    expect(await call(client, 'serverMetadata', {})).toMatchObject({ name: 'test-serving' });
  });

  it('describes a model with ModelMetadata', async () => {
    const meta = await call<inference.ModelMetadataRequest, inference.ModelMetadataResponse>(client, 'modelMetadata', { name: 'tiny_encoder', version: '' });
    expect(meta).toMatchObject({
      name: 'tiny_encoder',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
        { name: 'attention_mask', datatype: 'INT64', shape: [-1, -1] },
      ],
      outputs: [
        { name: 'embedding', datatype: 'FP32', shape: [-1, 16] },
        { name: 'hidden', datatype: 'FP32', shape: [-1, -1, 16] },
      ],
    });
  });

  it('runs ModelInfer with raw_input_contents and answers raw_output_contents', async () => {
    const res = await call<inference.ModelInferRequest, inference.ModelInferResponse>(
      client,
      'modelInfer',
      inferRequest({ modelName: 'add_one', id: 'r1', inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 4] }], rawInputContents: [f32([1, 2, 3, 4, 5, 6, 7, 8])] }),
    );
    expect(res).toMatchObject({ modelName: 'add_one', modelVersion: '2', id: 'r1', outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 4] }] });
    const raw = res.rawOutputContents[0]!;
    expect(Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)))).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('round-trips every datatype through typed contents', async () => {
    const contents = (over: Partial<inference.InferTensorContents>) => ({ ...emptyContents(), ...over });
    const inputs = [
      { name: 'in_fp32', datatype: 'FP32', shape: [1, 3], contents: contents({ fp32Contents: [1.5, -2, 3] }) },
      { name: 'in_fp64', datatype: 'FP64', shape: [1, 3], contents: contents({ fp64Contents: [1e-300, 2, -3.25] }) },
      { name: 'in_int32', datatype: 'INT32', shape: [1, 3], contents: contents({ intContents: [-7, 0, 2 ** 31 - 1] }) },
      { name: 'in_int64', datatype: 'INT64', shape: [1, 3], contents: contents({ int64Contents: [-(2 ** 40), 1, 2 ** 50] }) },
      { name: 'in_int8', datatype: 'INT8', shape: [1, 3], contents: contents({ intContents: [-128, 0, 127] }) },
      { name: 'in_uint8', datatype: 'UINT8', shape: [1, 3], contents: contents({ uintContents: [0, 128, 255] }) },
      { name: 'in_bool', datatype: 'BOOL', shape: [1, 3], contents: contents({ boolContents: [true, false, true] }) },
    ];
    const res = await call<inference.ModelInferRequest, inference.ModelInferResponse>(client, 'modelInfer', inferRequest({ modelName: 'identity_types', inputs }));
    const byName = Object.fromEntries(res.outputs.map((o) => [o.name, o]));
    for (const input of inputs) {
      const out = byName[input.name.replace('in_', 'out_')]!;
      expect(out.datatype).toBe(input.datatype);
      expect(out.shape).toEqual([1, 3]);
      const field = Object.entries(input.contents).find(([, v]) => (v as unknown[]).length > 0)![0] as keyof inference.InferTensorContents;
      expect(out.contents![field]).toEqual(input.contents[field]);
    }
  });

  it('returns NOT_FOUND for an unknown model and INVALID_ARGUMENT naming a bad input', async () => {
    await expect(call(client, 'modelInfer', inferRequest({ modelName: 'nope', inputs: [] }))).rejects.toMatchObject({ code: Status.NOT_FOUND });
    await expect(call(client, 'modelMetadata', { name: 'nope', version: '' })).rejects.toMatchObject({ code: Status.NOT_FOUND });
    await expect(
      call(client, 'modelInfer', inferRequest({ modelName: 'add_one', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], rawInputContents: [f32([1, 2, 3])] })),
    ).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, details: expect.stringContaining('input "x"') });
    await expect(
      call(client, 'modelInfer', inferRequest({ modelName: 'add_one', inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 4], contents: { ...emptyContents(), intContents: [1, 2, 3, 4] } }] })),
    ).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, details: expect.stringContaining('input "x"') });
  });

  it('answers ServerLive within 50 ms p99 while every instance is busy', async () => {
    // Two instances, each kept busy with long runs; requests queue behind them.
    const busy = Array.from({ length: 6 }, () => call(client, 'modelInfer', spinRequest(itersFor(250))));
    await new Promise((r) => setTimeout(r, 30));
    expect(repo.get('spin').inFlight).toBeGreaterThanOrEqual(2);
    const latencies: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      await call(client, 'serverLive', {});
      latencies.push(performance.now() - t0);
    }
    expect(repo.get('spin').inFlight).toBeGreaterThanOrEqual(1);
    latencies.sort((a, b) => a - b);
    expect(latencies[98]!).toBeLessThan(50);
    await Promise.all(busy);
  });

  it('honours the timeout parameter (microseconds) and the client deadline while queued', async () => {
    const busy = [0, 1].map(() => call(client, 'modelInfer', spinRequest(itersFor(400))));
    await new Promise((r) => setTimeout(r, 30));
    await expect(
      call(client, 'modelInfer', spinRequest(1, { parameters: { timeout: { parameterChoice: { $case: 'int64Param', int64Param: 30_000 } } } })),
    ).rejects.toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    await expect(call(client, 'modelInfer', spinRequest(1), { deadline: Date.now() + 50 })).rejects.toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    // The server's own deadline timer removes it while both instances are still busy.
    await waitFor(() => repo.get('spin').queueDepth === 0);
    expect(repo.get('spin').inFlight).toBeGreaterThanOrEqual(1);
    await Promise.all(busy);
  });

  it('removes a request from the queue when the client cancels it', async () => {
    const busy = [0, 1].map(() => call(client, 'modelInfer', spinRequest(itersFor(400))));
    await new Promise((r) => setTimeout(r, 30));
    const pending = client.modelInfer(spinRequest(1), () => undefined);
    await waitFor(() => repo.get('spin').queueDepth === 1);
    pending.cancel();
    await waitFor(() => repo.get('spin').queueDepth === 0);
    expect(repo.get('spin').inFlight).toBeGreaterThanOrEqual(1);
    await Promise.all(busy);
  });

  it('reads the priority parameter: a higher-priority request overtakes queued ones', async () => {
    const busy = [0, 1].map(() => call(client, 'modelInfer', spinRequest(itersFor(300))));
    await new Promise((r) => setTimeout(r, 30));
    const order: string[] = [];
    const low = call(client, 'modelInfer', spinRequest(itersFor(100), { id: 'low' })).then(() => order.push('low'));
    await waitFor(() => repo.get('spin').queueDepth === 1);
    const high = call(client, 'modelInfer', spinRequest(itersFor(100), { id: 'high', parameters: { priority: { parameterChoice: { $case: 'int64Param', int64Param: 1 } } } })).then(() => order.push('high'));
    await waitFor(() => repo.get('spin').queueDepth === 2);
    await Promise.all([...busy, low, high]);
    // Both fit one batch only if they queued together; with priority the high one is first in that batch or earlier.
    expect(order[0]).toBe('high');
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 2));
  }
}
