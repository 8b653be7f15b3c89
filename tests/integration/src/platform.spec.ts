import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus } from '@aigc/bus';
import { UsageMeter } from '@aigc/metering';
import { BillingServiceClient, FinishReason, inference, Modality } from '@aigc/proto';
import { callUnary, createClient } from '@aigc/runtime';
import { createHarness, SERVICES, startPlatform, waitFor, waitForGrpcServing, type Platform } from '@aigc/testing';
import { completion, createKey, gatewayClient, metricValue, publicMetadata } from './clients.js';

const harness = createHarness();
const dataDir = mkdtempSync(join(tmpdir(), 'aigc-platform-'));
let platform: Platform;
let key: Awaited<ReturnType<typeof createKey>>;

beforeAll(async () => {
  platform = await startPlatform(harness, { dataDir, logLevel: 'warn' });
  key = await createKey(platform.services.billing.address);
});

afterAll(async () => {
  const errors = await harness.close();
  rmSync(dataDir, { recursive: true, force: true });
  expect(errors).toEqual([]);
});

const usageFor = async (requestId: string) => {
  const billing = createClient(BillingServiceClient, platform.services.billing.address);
  try {
    return (await callUnary(billing, 'listUsage', { tenantId: '', requestId, limit: 10 })).entries;
  } finally {
    billing.close();
  }
};

describe('the platform on one machine', () => {
  it('starts all seven services and each reports SERVING', async () => {
    for (const name of SERVICES) await waitForGrpcServing(platform.services[name].address, { timeoutMs: 2_000 });
    await waitForGrpcServing(platform.services.text.address, { service: 'aigc.v1.TextService', timeoutMs: 2_000 });
  });

  it('serves the Open Inference Protocol on every model server, with raw_input_contents', async () => {
    const oip = (name: 'text' | 'image' | 'audio' | 'moderation') => createClient(inference.GRPCInferenceServiceClient, platform.services[name].address);
    const [text, image, audio, moderation] = [oip('text'), oip('image'), oip('audio'), oip('moderation')];
    try {
      for (const client of [text, image, audio, moderation]) expect((await callUnary(client, 'serverReady', {})).ready).toBe(true);
      // text: the embedding model, through its dynamic batcher.
      const embed = await callUnary(text, 'modelMetadata', { name: 'fortunes-embed', version: '' });
      expect(embed.outputs[0]).toMatchObject({ name: 'embedding', datatype: 'FP32', shape: [-1, 128] });
      const vector = await callUnary(
        text,
        'modelInfer',
        inference.ModelInferRequest.fromPartial({ modelName: 'fortunes-embed', inputs: [{ name: 'input_ids', datatype: 'INT64', shape: [1, 3] }], rawInputContents: [Buffer.from(new BigInt64Array([5n, 6n, 7n]).buffer)] }),
      );
      expect(vector.outputs[0]).toMatchObject({ name: 'embedding', shape: [1, 128] });
      expect(vector.rawOutputContents[0]!.length).toBe(128 * 4);
      // image: each ONNX part of the diffusion model, whole tensors (no batching).
      const unet = await callUnary(image, 'modelMetadata', { name: 'shapes-diffusion.unet', version: '' });
      expect(unet.inputs.map((i) => i.name).sort()).toEqual(['encoder_hidden_states', 'sample', 'timestep']);
      const encoded = await callUnary(
        image,
        'modelInfer',
        inference.ModelInferRequest.fromPartial({ modelName: 'shapes-diffusion.text_encoder', inputs: [{ name: 'input_ids', datatype: 'INT32', shape: [1, 16] }], rawInputContents: [Buffer.from(new Int32Array(16).fill(1).buffer)] }),
      );
      expect(encoded.outputs[0]!.shape).toEqual([1, 16, 64]);
      // audio: the default voice.
      const voice = await callUnary(audio, 'modelMetadata', { name: 'espeak-distilled', version: '' });
      expect(voice.inputs.map((i) => i.name)).toEqual(expect.arrayContaining(['input', 'input_lengths', 'scales']));
      await expect(callUnary(audio, 'modelMetadata', { name: 'no-such-voice', version: '' })).rejects.toMatchObject({ code: status.NOT_FOUND });
    } finally {
      for (const client of [text, image, audio, moderation]) client.close();
    }
  });

  it('answers a request through gateway, orchestrator and text, and records its usage exactly once', async () => {
    const gateway = gatewayClient(platform.services.gateway.address);
    const metadata = publicMetadata(key.secret, { 'x-request-id': 'e2e-1', 'x-aigc-tenant': 'spoofed-tenant' });
    const res = await callUnary(gateway, 'complete', completion('The ', 24), { metadata, deadline: new Date(Date.now() + 20_000) });
    gateway.close();

    expect(res.id).toBe('e2e-1');
    expect(res.model).toBe('fortunes-gpt');
    expect(res.finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(res.usage).toMatchObject({ promptTokens: 4, completionTokens: 24 });
    expect(Buffer.byteLength(res.text)).toBeGreaterThan(0);

    const entries = await waitFor(async () => {
      const found = await usageFor('e2e-1');
      return found.length > 0 ? found : undefined;
    }, { timeoutMs: 10_000, message: 'usage event never reached the ledger' });
    expect(entries).toHaveLength(1);
    const event = entries[0]!.event!;
    // The tenant comes from the API key, never from client metadata.
    expect(event).toMatchObject({ tenantId: key.tenantId, apiKeyId: key.keyId, service: 'text', model: 'fortunes-gpt', modality: Modality.MODALITY_TEXT });
    expect(event.usage).toMatchObject({ promptTokens: 4, completionTokens: 24 });

    // Publishing the same event again (a producer's retry) is deduplicated and never counted twice.
    const bus = await connectBus({ servers: platform.nats.url, name: 'spec' });
    const again = await new UsageMeter(bus, 'text').publish(event);
    await bus.drain();
    expect(again.duplicate).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(await usageFor('e2e-1')).toHaveLength(1);
  });

  it('refuses a call without a valid API key', async () => {
    const gateway = gatewayClient(platform.services.gateway.address);
    await expect(callUnary(gateway, 'complete', completion('x', 4))).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    await expect(callUnary(gateway, 'complete', completion('x', 4), { metadata: publicMetadata('sk-aigc-wrong') })).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    gateway.close();
  });

  it('surfaces a deadline that expires downstream as DEADLINE_EXCEEDED at the caller', async () => {
    // The deadline must outlive admission (authenticate, pre-filter, reserve) and expire while the
    // text server generates; how long each takes depends on the machine's load, so the deadline
    // doubles until an attempt reaches the text server before it passes.
    const labels = { grpc_method: 'Generate', grpc_code: 'DEADLINE_EXCEEDED' };
    const textSaw = () => metricValue(platform.metricsUrl('text'), 'grpc_server_handled_total', labels);
    const gateway = gatewayClient(platform.services.gateway.address);
    const metadata = publicMetadata(key.secret);
    await callUnary(gateway, 'complete', completion('warm ', 1), { metadata }); // key cache and connections warm
    let reachedText = false;
    for (let ms = 100; ms <= 6_400 && !reachedText; ms *= 2) {
      const before = await textSaw();
      const err = await callUnary(gateway, 'complete', completion('Long ', 250), { metadata, deadline: new Date(Date.now() + ms) }).catch((e: unknown) => e);
      // Whatever hop it expired at, the caller sees DEADLINE_EXCEEDED (or the whole answer, if it was fast enough).
      if (err instanceof Error) expect(err, `deadline ${ms} ms`).toMatchObject({ code: status.DEADLINE_EXCEEDED });
      else break;
      reachedText = await waitFor(async () => (await textSaw()) > before, { timeoutMs: 2_000 }).then(
        () => true,
        () => false,
      );
    }
    gateway.close();
    // The deadline travelled to the text server, which stopped generating when it passed.
    expect(reachedText, 'no attempt expired inside the text server').toBe(true);
  });

  it('rejects invalid sampling parameters with INVALID_ARGUMENT naming the parameter', async () => {
    const gateway = gatewayClient(platform.services.gateway.address);
    const bad = completion('x', 4);
    bad.sampling!.temperature = 5;
    await expect(callUnary(gateway, 'complete', bad, { metadata: publicMetadata(key.secret) })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: expect.stringContaining('temperature'),
    });
    gateway.close();
  });
});
