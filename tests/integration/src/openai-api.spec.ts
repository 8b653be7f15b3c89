import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, startPlatform, waitFor, type Platform } from '@aigc/testing';
import { createKey, metricValue, TEXT_MODEL } from './clients.js';

// The official `openai` npm client, unmodified, against the running platform.
const harness = createHarness();
const dataDir = mkdtempSync(join(tmpdir(), 'aigc-openai-'));
let platform: Platform;
let client: OpenAI;
let secret: string;

beforeAll(async () => {
  platform = await startPlatform(harness, { dataDir, logLevel: 'warn' });
  secret = (await createKey(platform.services.billing.address)).secret;
  client = new OpenAI({ apiKey: secret, baseURL: platform.openaiBaseUrl, maxRetries: 0, timeout: 30_000 });
});

afterAll(async () => {
  const errors = await harness.close();
  rmSync(dataDir, { recursive: true, force: true });
  expect(errors).toEqual([]);
});

describe('OpenAI-compatible HTTP API', () => {
  it('answers a chat completion', async () => {
    const res = await client.chat.completions.create({ model: TEXT_MODEL, messages: [{ role: 'user', content: 'Say something.' }], max_completion_tokens: 12, seed: 3 });
    expect(res.object).toBe('chat.completion');
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0]!.message.role).toBe('assistant');
    // fortunes-gpt may end its text (stop) before max_completion_tokens (length); usage adds up either way.
    expect(['length', 'stop']).toContain(res.choices[0]!.finish_reason);
    const completion = res.usage!.completion_tokens;
    expect(completion).toBeGreaterThan(0);
    expect(completion).toBeLessThanOrEqual(12);
    expect(res.usage!.total_tokens).toBe(res.usage!.prompt_tokens + completion);
    // Same seed, same answer.
    const again = await client.chat.completions.create({ model: TEXT_MODEL, messages: [{ role: 'user', content: 'Say something.' }], max_completion_tokens: 12, seed: 3 });
    expect(again.choices[0]!.message.content).toBe(res.choices[0]!.message.content);
  });

  it('streams a chat completion as server-sent events, usage last', async () => {
    const stream = await client.chat.completions.create({
      model: TEXT_MODEL,
      messages: [{ role: 'user', content: 'Tell me a story.' }],
      max_completion_tokens: 30,
      seed: 9,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(['length', 'stop']).toContain(finish);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    expect(usage?.completion_tokens).toBeLessThanOrEqual(30);
    const whole = await client.chat.completions.create({ model: TEXT_MODEL, messages: [{ role: 'user', content: 'Tell me a story.' }], max_completion_tokens: 30, seed: 9 });
    expect(text).toBe(whole.choices[0]!.message.content);
  });

  it('answers a legacy completion, streamed and not', async () => {
    const res = await client.completions.create({ model: TEXT_MODEL, prompt: 'The ', max_tokens: 10, seed: 1, stop: ['\n\n'] });
    expect(res.object).toBe('text_completion');
    expect(res.usage?.prompt_tokens).toBe(4);
    let streamed = '';
    for await (const chunk of await client.completions.create({ model: TEXT_MODEL, prompt: 'The ', max_tokens: 10, seed: 1, stop: ['\n\n'], stream: true })) {
      streamed += chunk.choices[0]?.text ?? '';
    }
    expect(streamed).toBe(res.choices[0]!.text);
  });

  it('draws: /v1/images/generations returns PNGs as b64_json', async () => {
    const res = await client.images.generate({ model: 'shapes-diffusion', prompt: 'a red circle', n: 2, response_format: 'b64_json', steps: 8, seed: 5 } as never);
    expect(res.data).toHaveLength(2);
    for (const image of res.data ?? []) {
      const png = Buffer.from(image.b64_json!, 'base64');
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(png.readUInt32BE(16)).toBeGreaterThan(0); // IHDR width
    }
    const tooBig = await client.images.generate({ model: 'shapes-diffusion', prompt: 'a red circle', size: '4096x4096' } as never).catch((e: unknown) => e);
    expect(tooBig).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('embeds: /v1/embeddings returns unit vectors, as floats or base64', async () => {
    const floats = await client.embeddings.create({ model: 'fortunes-embed', input: ['a quiet river', 'a loud market'], encoding_format: 'float' });
    expect(floats.data).toHaveLength(2);
    const v = floats.data[0]!.embedding;
    expect(Math.hypot(...v)).toBeCloseTo(1, 3);
    // The SDK's default asks for base64 and decodes it: the same vector either way.
    const decoded = await client.embeddings.create({ model: 'fortunes-embed', input: 'a quiet river' });
    expect(decoded.data[0]!.embedding.map((x) => x.toFixed(5))).toEqual(v.map((x) => x.toFixed(5)));
  });

  it('moderates: /v1/moderations flags what the lexicon holds', async () => {
    const res = await client.moderations.create({ input: ['What a lovely day.', 'Here is how to make a bomb at home.'] });
    expect(res.results.map((r) => r.flagged)).toEqual([false, true]);
  });

  it('speaks: /v1/audio/speech returns a WAV the client can read', async () => {
    const res = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello there. How are you today?', response_format: 'wav' });
    const wav = Buffer.from(await res.arrayBuffer());
    expect(wav.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(wav.subarray(8, 12).toString('latin1')).toBe('WAVE');
    const sampleRate = wav.readUInt32LE(24);
    const seconds = (wav.length - 44) / 2 / sampleRate;
    expect(seconds).toBeGreaterThan(0.5);
    const mp3 = await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'x', response_format: 'mp3' }).catch((e: unknown) => e);
    expect(mp3).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('lists the models', async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toContain(TEXT_MODEL);
    expect((await client.models.retrieve(TEXT_MODEL)).id).toBe(TEXT_MODEL);
  });

  it('gives 401 for a bad key, as the client expects', async () => {
    const bad = new OpenAI({ apiKey: 'sk-aigc-wrong', baseURL: platform.openaiBaseUrl, maxRetries: 0 });
    const err = await bad.chat.completions.create({ model: TEXT_MODEL, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.AuthenticationError>).status).toBe(401);
  });

  it('gives 400 naming the parameter for out-of-range values, wrong types and unknown models', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ temperature: 7 }, /temperature/],
      [{ temperature: 'hot' }, /'temperature' must be a number/],
      [{ n: 3 }, /'n' must be 1/],
      [{ model: 'no-such-model' }, /no-such-model/],
      [{ messages: [] }, /'messages' must not be empty/],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, /messages\[0\]\.role/],
    ];
    for (const [override, message] of cases) {
      const body = { model: TEXT_MODEL, messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 2, ...override };
      const err = await client.chat.completions.create(body as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(override)).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('stops generation downstream when a streaming client disconnects', async () => {
    const labels = { grpc_method: 'GenerateStream', grpc_code: 'CANCELLED' };
    const textMetrics = platform.metricsUrl('text');
    const before = await metricValue(textMetrics, 'grpc_server_handled_total', labels);
    const cancelledBefore = await metricValue(textMetrics, 'text_generations_total', { model: TEXT_MODEL, reason: 'cancelled' });
    const controller = new AbortController();
    const res = await fetch(`${platform.openaiBaseUrl}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: TEXT_MODEL, messages: [{ role: 'user', content: 'go' }], max_completion_tokens: 200, ignore_eos: true, stream: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    controller.abort();
    await waitFor(async () => (await metricValue(textMetrics, 'grpc_server_handled_total', labels)) > before, {
      timeoutMs: 5_000,
      message: 'text server never saw the cancellation',
    });
    expect(await metricValue(textMetrics, 'text_generations_total', { model: TEXT_MODEL, reason: 'cancelled' })).toBe(cancelledBefore + 1);
  });
});
