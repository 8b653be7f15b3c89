import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FinishReason } from '@aigc/proto';
import { ServiceError, Status } from '@aigc/runtime';
import { ContinuousBatcher, decodePasses, ShardedBatcher } from './continuous-batcher.js';
import type { GenerationEvent, GenerationSequence } from './generation-sequence.js';
import { readModelSpec } from './model-spec.js';
import { openGenerator, type GeneratorOptions, type OpenGenerator } from './open-generator.js';
import { resolveSampling, type SamplingSettings } from './sampling-params.js';
import type { SamplingParams } from '@aigc/proto';

const TEST_MODELS = fileURLToPath(new URL('../test/models', import.meta.url));
const LIMITS = { defaultMaxTokens: 16, maxTokensLimit: 256 };
const opened: OpenGenerator[] = [];

/** tiny-gpt2: a GPT-2-layout export trained to repeat "the quick brown fox jumps over the lazy dog. " */
async function open(options: GeneratorOptions = {}, priorityLevels = 1): Promise<OpenGenerator> {
  const spec = readModelSpec(TEST_MODELS, 'tiny-gpt2');
  const policy = spec.serving.batching.queuePolicies[0]!;
  const batching = { ...spec.serving.batching, priorityLevels, queuePolicies: Array.from({ length: priorityLevels }, () => policy) };
  const g = await openGenerator({ ...spec, serving: { ...spec.serving, batching } }, options);
  opened.push(g);
  return g;
}
const settings = (p: Partial<SamplingParams>): SamplingSettings =>
  resolveSampling({ maxTokens: 0, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [], ...p }, LIMITS);
const greedy = (maxTokens: number, extra: Partial<SamplingParams> = {}) => settings({ maxTokens, temperature: 0, ...extra });

async function collect(g: OpenGenerator, seq: GenerationSequence, options: { signal?: AbortSignal; onEvent?: (e: GenerationEvent) => void } = {}) {
  let text = '';
  for await (const e of g.generator.stream(seq, options)) {
    text += e.delta;
    options.onEvent?.(e);
  }
  return text;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((g) => g.close()));
});

describe('generation over a standard KV-cache export', () => {
  it('serves a model from its config.json alone and continues a prompt through the KV cache', async () => {
    const g = await open();
    expect(g.model.geometry).toEqual({ layers: 2, kvHeads: 2, headDim: 16 });
    // Byte-level tokens: 20 of them continue the sentence up to "laz".
    const seq = g.generator.prepare('the quick brown', greedy(20), 2);
    expect(await collect(g, seq)).toBe(' fox jumps over the laz');
    expect(seq.finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    // The caches stay in the worker, and attention there reads them in place.
    expect(g.model.graph).toBe('concat-free');
  });

  it('honours max_tokens exactly', async () => {
    const g = await open();
    for (const n of [1, 5, 13]) {
      const seq = g.generator.prepare('the lazy', settings({ maxTokens: n, seed: 3 }), 2);
      await collect(g, seq);
      expect(seq.generatedIds).toHaveLength(n);
      expect(seq.finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
    }
  });

  it('caps generation at the context and reports LENGTH', async () => {
    const g = await open({ contextWindow: 20 });
    const seq = g.generator.prepare('the quick brown', greedy(100), 2);
    await collect(g, seq);
    expect(seq.promptIds.length + seq.generatedIds.length).toBe(20);
    expect(seq.finishReason).toBe(FinishReason.FINISH_REASON_LENGTH);
  });

  it('cuts the output exactly before a stop sequence, streamed and whole', async () => {
    const g = await open();
    const deltas: string[] = [];
    const seq = g.generator.prepare('the quick brown', greedy(30, { stop: ['zzz', 'y d'] }), 2);
    const text = await collect(g, seq, { onEvent: (e) => deltas.push(e.delta) });
    expect(text).toBe(' fox jumps over the laz');
    expect(deltas.join('')).toBe(text);
    expect(seq.finishReason).toBe(FinishReason.FINISH_REASON_STOP);
  });

  it('gives the same tokens for the same seed and input, and other tokens for another seed', async () => {
    const g = await open();
    const run = async (seed: number) => {
      const seq = g.generator.prepare('the', settings({ maxTokens: 24, temperature: 2, seed }), 2);
      await collect(g, seq);
      return seq.generatedIds;
    };
    const a = await run(42);
    expect(await run(42)).toEqual(a);
    expect(await run(43)).not.toEqual(a);
  });

  it('gives the same greedy tokens batched as alone, with prompts of different lengths', async () => {
    const g = await open();
    const prompts = ['the', 'the quick brown fox jumps over', 'lazy dog. the quick', 'over the lazy dog. the quick brown fox jumps'];
    const alone: number[][] = [];
    for (const p of prompts) {
      const seq = g.generator.prepare(p, greedy(12), 2);
      await collect(g, seq);
      alone.push(seq.generatedIds);
    }
    const seqs = prompts.map((p) => g.generator.prepare(p, greedy(12), 2));
    await Promise.all(seqs.map((s) => collect(g, s)));
    expect(seqs.map((s) => s.generatedIds)).toEqual(alone);
  });

  it('gives the same greedy tokens from the graph\'s argmax as from the logits', async () => {
    const g = await open();
    const prompts = ['the', 'quick brown fox', 'over the lazy dog. the'];
    // Plain greedy rows take the graph's argmax; asking for logprobs makes the worker fetch the logits.
    const viaArgmax = prompts.map((p) => g.generator.prepare(p, greedy(12), 2));
    const viaLogits = prompts.map((p) => g.generator.prepare(p, greedy(12, { logprobs: 1 }), 2));
    // One after the other: a pass with any logprobs row fetches the logits for all its rows.
    await Promise.all(viaArgmax.map((s) => collect(g, s)));
    await Promise.all(viaLogits.map((s) => collect(g, s)));
    expect(viaArgmax.map((s) => s.generatedIds)).toEqual(viaLogits.map((s) => s.generatedIds));
    expect(g.model.stats.sampledFrom).toEqual({ argmax: 36, probs: 0, logits: 36 });
  });

  it('gives a seeded sampled request the same tokens alone and batched with requests that need logits', async () => {
    const g = await open();
    const sampled = () => g.generator.prepare('the quick', settings({ maxTokens: 16, temperature: 1.2, topP: 0.95, seed: 42 }), 2);
    const alone = sampled();
    await collect(g, alone);
    // Batched with a repetition-penalty request and a logprobs request: their passes fetch the
    // logits too, while the sampled request still draws from the graph's probabilities.
    const batched = sampled();
    const others = [
      g.generator.prepare('over the lazy', settings({ maxTokens: 16, temperature: 0.7, repetitionPenalty: 1.3, seed: 1 }), 2),
      g.generator.prepare('jumps', greedy(16, { logprobs: 2 }), 2),
    ];
    const before = { ...g.model.stats.sampledFrom };
    await Promise.all([batched, ...others].map((s) => collect(g, s)));
    expect(batched.generatedIds).toEqual(alone.generatedIds);
    // Every one of its 16 tokens came from the graph's probabilities, the others' from the logits.
    expect(g.model.stats.sampledFrom.probs - before.probs).toBe(16);
    expect(g.model.stats.sampledFrom.logits - before.logits).toBe(32);
    expect(new Set(alone.generatedIds).size).toBeGreaterThan(1);
  });

  it('gives the same greedy tokens on two sessions, each keeping the caches of its sequences', async () => {
    const one = await open();
    const two = await open({ instances: 2 });
    expect(two.executor.instanceCount).toBe(2);
    const prompts = ['the', 'quick brown fox', 'over the lazy dog. the', 'jumps over', 'lazy', 'the quick brown fox jumps'];
    const run = (g: OpenGenerator) => Promise.all(prompts.map(async (p) => {
      const seq = g.generator.prepare(p, greedy(10), 2);
      await collect(g, seq);
      return seq.generatedIds;
    }));
    expect(await run(two)).toEqual(await run(one));
    expect(two.model.stepsPerInstance.every((n) => n > 0)).toBe(true);
    expect(await two.model.flush()).toBe(0);
  });

  it('runs one continuous batcher per instance, each keeping its sequences on its own worker', async () => {
    const g = await open({ instances: 2 });
    const sharded = g.runner as ShardedBatcher;
    expect(sharded).toBeInstanceOf(ShardedBatcher);
    const seqs = ['the', 'quick brown fox', 'over the lazy dog. the', 'jumps over', 'lazy', 'the quick brown fox jumps'].map((p) => g.generator.prepare(p, greedy(8), 2));
    const placed = new Map<GenerationSequence, Set<number>>();
    await Promise.all(seqs.map((s) => collect(g, s, { onEvent: () => placed.set(s, (placed.get(s) ?? new Set()).add(s.cache!.instance)) })));
    // Submitted together, they go to the shard with fewer sequences: three each.
    const instances = seqs.map((s) => [...placed.get(s)!]);
    expect(instances.every((i) => i.length === 1)).toBe(true);
    expect(instances.filter(([i]) => i === 0)).toHaveLength(3);
    expect(sharded.shards.every((b) => b.iterations > 0)).toBe(true);
    expect(await g.model.flush()).toBe(0);
  });

  it('reports logprobs of the chosen token and the best alternatives', async () => {
    const g = await open();
    const seq = g.generator.prepare('the quick', greedy(3, { logprobs: 2 }), 2);
    const events: GenerationEvent[] = [];
    await collect(g, seq, { onEvent: (e) => events.push(e) });
    const lp = events.flatMap((e) => e.logprobs);
    expect(lp).toHaveLength(3);
    for (const t of lp) {
      expect(t.top).toHaveLength(2);
      expect(t.logprob).toBeLessThanOrEqual(0);
      // Greedy: the chosen token is the most likely one.
      expect(t.top[0]!.token).toBe(t.token);
      expect(t.top[0]!.logprob).toBeCloseTo(t.logprob, 5);
      expect(t.top[1]!.logprob).toBeLessThanOrEqual(t.top[0]!.logprob);
    }
  });

  it('rejects a model without KV-cache inputs, naming what is missing', async () => {
    // An encoder from the serving core's test models: a real ONNX model with no KV cache.
    const root = fileURLToPath(new URL('../../../libs/serving/test/models', import.meta.url));
    const err = await openGenerator({ ...readModelSpecLike(root, 'tiny_encoder') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).code).toBe(Status.FAILED_PRECONDITION);
    expect((err as Error).message).toContain('past_key_values');
  });
});

/** A model without a text config: describe it by hand, borrowing tiny-gpt2's text settings. */
function readModelSpecLike(root: string, name: string) {
  const spec = readModelSpec(TEST_MODELS, 'tiny-gpt2');
  return { ...spec, name, modelPath: join(root, name, '1', 'model.onnx') };
}

describe('continuous batching', () => {
  it('frees a cancelled stream\'s slot at the next step: the waiting request starts at once', async () => {
    const g = await open({ scheduler: { maxActive: 1 } });
    const batcher = g.runner as ContinuousBatcher;
    const controller = new AbortController();
    const first = g.generator.prepare('the', greedy(60), 2);
    const second = g.generator.prepare('the quick', greedy(10), 2);
    let cancelledAt = -1;
    let secondStartedAt = -1;
    const running = collect(g, first, {
      signal: controller.signal,
      onEvent: () => {
        if (first.generatedIds.length === 3 && cancelledAt < 0) {
          cancelledAt = batcher.iterations;
          controller.abort();
        }
      },
    }).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    const waiting = collect(g, second, { onEvent: () => (secondStartedAt = secondStartedAt < 0 ? batcher.iterations : secondStartedAt) });
    expect(batcher.waitingCount).toBe(1);
    expect(await running).toMatchObject({ code: Status.CANCELLED });
    expect(await waiting).toBe(' brown fox');
    expect(first.generatedIds.length).toBeLessThan(60);
    // The second request joined at the first iteration boundary after the cancel and its
    // one-chunk prefill was sent there; steps are pipelined, so its first token is read at the
    // iteration after that.
    expect(secondStartedAt - cancelledAt).toBeLessThanOrEqual(3);
    // Both caches are gone from the worker: the cancelled one and the finished one.
    await new Promise((r) => setImmediate(r));
    expect(g.model.liveCaches).toBe(0);
    expect(await g.model.flush()).toBe(0);
  });

  it('admits higher priority first when a slot frees', async () => {
    const g = await open({ scheduler: { maxActive: 1 } }, 3);
    const order: string[] = [];
    const run = (name: string, priority: number, max: number) =>
      collect(g, g.generator.prepare('the', greedy(max), priority)).then(() => order.push(name));
    const all = [run('running', 2, 6)];
    await new Promise((r) => setImmediate(r));
    all.push(run('low', 3, 2), run('normal', 2, 2), run('high', 1, 2));
    await Promise.all(all);
    expect(order).toEqual(['running', 'high', 'normal', 'low']);
  });

  it('holds admission to the KV-cache budget', async () => {
    const g = await open({ scheduler: { maxActive: 4, kvCacheTokens: 30 } });
    const batcher = g.runner as ContinuousBatcher;
    let maxActive = 0;
    const seqs = [0, 1, 2].map(() => g.generator.prepare('the quick', greedy(20), 2)); // 3 + 20 tokens each
    await Promise.all(seqs.map((s) => collect(g, s, { onEvent: () => (maxActive = Math.max(maxActive, batcher.activeCount)) })));
    expect(maxActive).toBe(1);
    expect(seqs.every((s) => s.generatedIds.length === 20)).toBe(true);
  });

  it('gives a short prompt its first token before a long prompt that arrived first finishes prefill', async () => {
    const g = await open({ scheduler: { maxActive: 4, prefillChunk: 4, maxStepTokens: 8 } });
    const firsts: string[] = [];
    const long = g.generator.prepare('the quick brown fox jumps over the lazy dog. the quick brown', greedy(2), 2);
    const short = g.generator.prepare('the', greedy(2), 2);
    const mark = (name: string) => () => (firsts.includes(name) ? undefined : firsts.push(name));
    const a = collect(g, long, { onEvent: mark('long') });
    await new Promise((r) => setImmediate(r));
    const b = collect(g, short, { onEvent: mark('short') });
    await Promise.all([a, b]);
    expect(long.promptIds.length).toBeGreaterThan(20);
    expect(firsts).toEqual(['short', 'long']);
  });

  it('pauses a stream that stops reading (backpressure) while others keep decoding', async () => {
    const g = await open({ scheduler: { maxActive: 2, maxBufferedTokens: 3 } });
    const slow = g.generator.prepare('the', greedy(40), 2);
    const iterator = g.generator.stream(slow)[Symbol.asyncIterator]();
    await iterator.next(); // started, then never read again until the other finishes
    const fast = g.generator.prepare('the quick', greedy(30), 2);
    await collect(g, fast);
    expect(fast.generatedIds).toHaveLength(30);
    expect(slow.bufferedTokens).toBeLessThanOrEqual(3);
    expect(slow.generatedIds.length).toBeLessThan(10);
    let rest = 0;
    while (!(await iterator.next()).done) rest++;
    expect(slow.generatedIds).toHaveLength(40);
    expect(rest).toBeGreaterThan(0);
  });
});

describe('request-level batching', () => {
  it('forms batches in arrival order whose padded KV reservation (rows x longest prompt + max_tokens) fits the budget', async () => {
    const sizes: number[] = [];
    const g = await open({ batching: 'request', scheduler: { maxActive: 8, kvCacheTokens: 100 }, maxQueueDelayMs: 50, observer: { batchStarted: (b) => sizes.push(b.size) } });
    // 3 prompt tokens each: the long one reserves 43 positions, the short ones 13.
    const seqs = [g.generator.prepare('the quick', greedy(40), 2), ...[0, 1, 2, 3].map(() => g.generator.prepare('the quick', greedy(10), 2))];
    await Promise.all(seqs.map((s) => collect(g, s)));
    // 2 x 43 fits 100 and 3 x 43 does not; the three short ones left take 3 x 13.
    expect(sizes).toEqual([2, 3]);
    expect(seqs.map((s) => s.generatedIds.length)).toEqual([40, 10, 10, 10, 10]);
  });
});

describe('decodePasses', () => {
  const seqs = (lengths: number[]) => lengths.map((length, i) => ({ cache: { id: i, instance: 0, length }, arrivedAt: i }) as unknown as GenerationSequence);
  const lengths = (passes: GenerationSequence[][]) => passes.map((p) => p.map((s) => s.cache!.length));

  it('keeps rows of similar length in one pass, longest first', () => {
    expect(lengths(decodePasses(seqs([40, 90, 60, 75, 52, 81])))).toEqual([[90, 81, 75, 60, 52, 40]]);
  });

  it('gives a few long caches their own pass when many short rows would attend their length', () => {
    expect(lengths(decodePasses(seqs([240, 20, 25, 18, 30, 22, 19, 27, 21, 24, 235, 26])))).toEqual([
      [240, 235],
      [30, 27, 26, 25, 24, 22, 21, 20, 19, 18],
    ]);
    expect(decodePasses([])).toEqual([]);
  });
});
