import { fileURLToPath } from 'node:url';
import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMERS, connectBus, provision, STREAMS, type Bus } from '@aigc/bus';
import { decodeUsageEvent, UsageMeter } from '@aigc/metering';
import { FinishReason, Priority, TextServiceClient, type GenerateStreamResponse } from '@aigc/proto';
import { callUnary, createClient, loadConfig, silentLogger, type ServiceHost } from '@aigc/runtime';
import { createHarness } from '@aigc/testing';
import { textConfigSpec } from './config.js';
import { startTextService } from './text-service.js';

const harness = createHarness();
const TEST_MODELS = fileURLToPath(new URL('../test/models', import.meta.url));
let bus: Bus;
let host: ServiceHost;
let client: TextServiceClient;

beforeAll(async () => {
  const nats = await harness.nats();
  bus = await connectBus({ servers: nats.url, name: 'text-spec' });
  await provision(bus);
  // tiny-gpt2 from its config.json alone, with the default embedding model beside it.
  const config = loadConfig(textConfigSpec, { GRPC_PORT: '0', NATS_URL: nats.url, MODEL_REPOSITORY: TEST_MODELS, TEXT_MODEL: 'tiny-gpt2', TEXT_EMBEDDING_MODEL: 'none' });
  host = await startTextService(config, { logger: silentLogger, meter: new UsageMeter(bus, 'text'), metricsPort: null });
  client = createClient(TextServiceClient, `127.0.0.1:${host.port}`);
});
afterAll(async () => {
  client?.close();
  await host?.shutdown();
  await bus?.drain();
  await harness.close();
});

const request = (prompt: string, sampling: Record<string, unknown>) => ({
  model: '', prompt, priority: Priority.PRIORITY_NORMAL, reservationId: '',
  sampling: { maxTokens: 0, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [], ...sampling },
});
const withId = (id: string) => {
  const md = new Metadata();
  md.set('x-request-id', id);
  return { metadata: md };
};

describe('TextService over gRPC', () => {
  it('generates, and publishes usage with prompt and completion tokens and compute time', async () => {
    const res = await callUnary(client, 'generate', request('the quick brown', { maxTokens: 10, temperature: 0 }), withId('gen-1'));
    expect(res).toMatchObject({ model: 'tiny-gpt2', text: ' fox jumps', finishReason: FinishReason.FINISH_REASON_LENGTH });
    expect(res.usage).toMatchObject({ promptTokens: 13, completionTokens: 10 });
    expect(res.usage!.computeMs).toBeGreaterThan(0);

    const consumer = await bus.js.consumers.get(STREAMS.usage.name, CONSUMERS.billingLedger.name);
    const msg = await consumer.next({ expires: 5_000 });
    const event = decodeUsageEvent(msg!.data);
    msg!.ack();
    expect(event).toMatchObject({ requestId: 'gen-1', service: 'text', model: 'tiny-gpt2', usage: { promptTokens: 13, completionTokens: 10 } });

    // The same work in the server's metrics: tokens by kind, the finish reason, and decode steps as batches.
    const value = async (name: string, labels: Record<string, string>) =>
      (await host.registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
    expect(await value('text_tokens_total', { model: 'tiny-gpt2', kind: 'completion' })).toBeGreaterThanOrEqual(10);
    expect(await value('text_tokens_total', { model: 'tiny-gpt2', kind: 'prompt' })).toBeGreaterThanOrEqual(13);
    expect(await value('text_generations_total', { model: 'tiny-gpt2', reason: 'length' })).toBeGreaterThanOrEqual(1);
    const steps = (await host.registry.getSingleMetric('aigc_serving_batch_size')!.get()).values.find((v) => v.metricName === 'aigc_serving_batch_size_count' && v.labels.model === 'tiny-gpt2');
    expect(steps?.value).toBeGreaterThanOrEqual(10);
  });

  it('streams the same text as the unary call, usage on the last message', async () => {
    const call = client.generateStream(request('the lazy', { maxTokens: 12, seed: 11, temperature: 0.7 }));
    const messages: GenerateStreamResponse[] = [];
    for await (const m of call as AsyncIterable<GenerateStreamResponse>) messages.push(m);
    const whole = await callUnary(client, 'generate', request('the lazy', { maxTokens: 12, seed: 11, temperature: 0.7 }));
    expect(messages.map((m) => m.delta).join('')).toBe(whole.text);
    const last = messages.at(-1)!;
    expect(last.finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(last.usage).toMatchObject({ completionTokens: 12 });
    expect(messages.slice(0, -1).every((m) => m.usage === undefined && m.finishReason === FinishReason.FINISH_REASON_UNSPECIFIED)).toBe(true);
  });

  it('rejects bad parameters with INVALID_ARGUMENT messages that name them', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ topP: 2 }, 'top_p'],
      [{ presencePenalty: 9 }, 'presence_penalty'],
      [{ logprobs: 50 }, 'logprobs'],
      [{ maxTokens: 100000 }, 'max_tokens'],
    ];
    for (const [sampling, name] of cases) {
      await expect(callUnary(client, 'generate', request('x', sampling))).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringContaining(name) });
    }
    await expect(callUnary(client, 'generate', { ...request('x', {}), priority: 7 as Priority })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      message: expect.stringContaining('priority'),
    });
    await expect(callUnary(client, 'generate', request('xy'.repeat(40), {}))).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringContaining('context') });
  });

  it('answers Embed with UNIMPLEMENTED when no embedding model is configured, and lists its model', async () => {
    await expect(callUnary(client, 'embed', { model: '', inputs: ['x'], priority: 0, reservationId: '' })).rejects.toMatchObject({ code: status.UNIMPLEMENTED });
    const { models } = await callUnary(client, 'listModels', {});
    expect(models.map((m) => m.id)).toEqual(['tiny-gpt2']);
  });
});
