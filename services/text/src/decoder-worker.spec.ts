import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { prepareDecoderGraph } from './decoder-graph.js';
import type { DecoderStepReply, PassRowRequest, SamplerInit } from './decoder-protocol.js';
import { WorkerDecoder } from './decoder-worker.js';
import { TextTokenizer } from './text-tokenizer.js';
import { argmax } from './token-sampler.js';

const MODEL = fileURLToPath(new URL('../test/models/tiny-gpt2/1/model.onnx', import.meta.url));
const tokenizer = TextTokenizer.fromFile(fileURLToPath(new URL('../test/models/tiny-gpt2/tokenizer.json', import.meta.url)));
const text = (s: string) => tokenizer.encode(s);

const greedy = (promptIds: number[]): SamplerInit => ({
  settings: { maxTokens: 16, temperature: 0, topP: 1, topK: 0, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, stop: [], seed: 1, logprobs: undefined, ignoreEos: true },
  promptIds,
});

/**
 * Greedy generation for several prompts through one WorkerDecoder (in this thread), with the
 * batch changing as it goes: prompts prefilled in chunks of 4, sequences joining late and
 * leaving early, decode rows split into two passes on odd steps. Tokens are picked here from the
 * returned logits, or (`inWorker`) sampled by the worker, decode rows sending no token.
 */
async function generate(decoder: WorkerDecoder, inWorker = false): Promise<{ tokens: number[][]; logits: Float32Array[] }> {
  const prompts = ['the quick brown', 'lazy dog. the quick brown fox jumps', 'over', 'the lazy dog'].map(text);
  const lengths = [12, 6, 14, 9];
  const joinAt = [0, 0, 3, 5];
  const cached = prompts.map(() => 0);
  const out: number[][] = prompts.map(() => []);
  const logits: Float32Array[] = [];
  let release: number[] = [];
  for (let step = 0; out.some((o, i) => o.length < lengths[i]!); step++) {
    const prefill: PassRowRequest[] = [];
    const decode: PassRowRequest[] = [];
    prompts.forEach((p, i) => {
      if (step < joinAt[i]! || out[i]!.length >= lengths[i]!) return;
      const id = i + 1;
      if (cached[i]! < p.length) {
        const tokens = p.slice(cached[i]!, cached[i]! + 4);
        const row: PassRowRequest = { id, cached: cached[i]!, tokens };
        if (inWorker) Object.assign(row, { sample: cached[i]! + tokens.length === p.length, sampler: cached[i]! === 0 ? greedy(p) : undefined });
        prefill.push(row);
      } else decode.push(inWorker ? { id, cached: cached[i]!, sample: true } : { id, cached: cached[i]!, tokens: [out[i]!.at(-1) ?? p.at(-1)!] });
    });
    const passes = step % 2 === 1 && decode.length > 1 ? [decode.slice(0, 1), decode.slice(1), prefill] : [decode, prefill];
    const nonEmpty = passes.filter((p) => p.length > 0);
    const { value } = await decoder.step({ release, passes: nonEmpty, logits: true }, ort).then((r) => ({ value: r.reply as DecoderStepReply }));
    release = [];
    let row = 0;
    for (const pass of nonEmpty) {
      for (const r of pass) {
        const i = r.id - 1;
        cached[i]! += r.tokens?.length ?? 1;
        const l = value.logits.slice(row * value.vocabSize, (row + 1) * value.vocabSize);
        const picked = value.tokens[row]!;
        row++;
        if (cached[i]! < prompts[i]!.length) {
          expect(picked).toBe(-1);
          continue;
        }
        logits.push(l);
        if (inWorker) expect(picked).toBe(argmax(l));
        out[i]!.push(inWorker ? picked : argmax(l));
        if (out[i]!.length >= lengths[i]!) release.push(r.id);
      }
    }
  }
  return { tokens: out, logits };
}

describe('WorkerDecoder', () => {
  it('generates the same tokens whether attention reads the cache in place, the graph only exposes new keys and values, or it runs as exported', async () => {
    const bytes = new Uint8Array(readFileSync(MODEL));
    const graph = prepareDecoderGraph(bytes)!;
    const concatFree = new WorkerDecoder(await ort.InferenceSession.create(graph.model), graph);
    const exposedOnly = prepareDecoderGraph(bytes, { concatFree: false })!;
    const newKv = new WorkerDecoder(await ort.InferenceSession.create(exposedOnly.model), exposedOnly);
    const asExported = new WorkerDecoder(await ort.InferenceSession.create(MODEL), undefined);
    const a = await generate(concatFree);
    const b = await generate(asExported);
    expect(a.tokens).toEqual(b.tokens);
    expect((await generate(newKv)).tokens).toEqual(b.tokens);
    // Sampled in the worker, decode rows feeding the token it sampled last: the same tokens.
    const sampling = new WorkerDecoder(await ort.InferenceSession.create(graph.model), graph);
    expect((await generate(sampling, true)).tokens).toEqual(b.tokens);
    expect(tokenizer.decode(a.tokens[0]!)).toBe(' fox jumps o');
    let diff = 0;
    a.logits.forEach((l, k) => l.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - b.logits[k]![j]!)))));
    expect(diff).toBeLessThan(1e-4);
    const reply = (await concatFree.step({ release: [1, 2, 3, 4], passes: [] }, ort)).reply;
    expect(reply.graph).toBe('concat-free');
    expect(reply.cachedSequences).toBe(0);
    expect((await asExported.step({ release: [], passes: [] }, ort)).reply.graph).toBe('presents');
    expect((await newKv.step({ release: [], passes: [] }, ort)).reply.graph).toBe('new-kv');
  });

  it('fails a step whose cache is not what the main thread expects', async () => {
    const decoder = new WorkerDecoder(await ort.InferenceSession.create(MODEL), undefined);
    await expect(decoder.step({ release: [], passes: [[{ id: 7, cached: 3, tokens: [1] }]] }, ort)).rejects.toThrow(/expected 3/);
  });

  it('fails a row that sends no token before the worker has sampled one for it, or asks to sample with no sampler', async () => {
    const decoder = new WorkerDecoder(await ort.InferenceSession.create(MODEL), undefined);
    await expect(decoder.step({ release: [], passes: [[{ id: 1, cached: 0 }]] }, ort)).rejects.toThrow(/sampled none/);
    await expect(decoder.step({ release: [], passes: [[{ id: 2, cached: 0, tokens: [1, 2], sample: true }]] }, ort)).rejects.toThrow(/no sampler/);
  });
});
