import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FinishReason } from '@aigc/proto';
import { createExecutor, type OnnxExecutor } from '@aigc/serving';
import { ByteLevelGenerator, type GenerationStats } from './generator.js';
import { defaultModelRepository, newestModelFile } from './model-files.js';
import { resolveSampling } from './sampler.js';

let executor: OnnxExecutor;
let generator: ByteLevelGenerator;
beforeAll(async () => {
  executor = await createExecutor({ modelPath: newestModelFile(defaultModelRepository(), 'bigram-fortunes').path });
  generator = new ByteLevelGenerator(executor, 64);
});
afterAll(() => executor.close());

async function generate(prompt: string, params: Parameters<typeof resolveSampling>[0]) {
  const stats: GenerationStats = { promptTokens: 0, completionTokens: 0, computeMs: 0 };
  const chunks: string[] = [];
  let finish: FinishReason | undefined;
  for await (const chunk of generator.generate(prompt, resolveSampling(params, { defaultMaxTokens: 16, maxTokensLimit: 512 }), new AbortController().signal, stats)) {
    chunks.push(chunk.delta);
    finish = chunk.finishReason ?? finish;
  }
  return { text: chunks.join(''), finish, stats };
}

const params = (over: Record<string, unknown> = {}) => ({ maxTokens: 40, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [] as string[], seed: 11, temperature: 1, ...over });

describe('ByteLevelGenerator over the bigram ONNX model', () => {
  it('gives the same text for the same seed, and counts tokens', async () => {
    const a = await generate('The ', params());
    const b = await generate('The ', params());
    expect(a.text).toBe(b.text);
    expect(a.finish).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(a.stats).toMatchObject({ promptTokens: 4, completionTokens: 40 });
    expect(a.stats.computeMs).toBeGreaterThan(0);
    expect((await generate('The ', params({ seed: 12 }))).text).not.toBe(a.text);
  });

  it('continues with the most likely byte pair when greedy', async () => {
    // After "q" the fortunes almost always continue with "u".
    const { text } = await generate('q', params({ temperature: 0, maxTokens: 1 }));
    expect(text).toBe('u');
  });

  it('cuts the output exactly before the first stop sequence', async () => {
    const full = await generate('The ', params({ maxTokens: 200 }));
    const stop = full.text.slice(20, 23);
    const cut = await generate('The ', params({ maxTokens: 200, stop: [stop] }));
    expect(cut.finish).toBe(FinishReason.FINISH_REASON_STOP);
    expect(cut.text).toBe(full.text.slice(0, full.text.indexOf(stop)));
  });

  it('stops at once when its signal fires', async () => {
    const controller = new AbortController();
    const stats: GenerationStats = { promptTokens: 0, completionTokens: 0, computeMs: 0 };
    const run = generator.generate('The ', resolveSampling(params({ maxTokens: 500 }), { defaultMaxTokens: 16, maxTokensLimit: 512 }), controller.signal, stats);
    let seen = 0;
    await expect(
      (async () => {
        for await (const _ of run) if (++seen === 3) controller.abort(new Error('client left'));
      })(),
    ).rejects.toThrow();
    expect(stats.completionTokens).toBeLessThan(10);
  });
});
