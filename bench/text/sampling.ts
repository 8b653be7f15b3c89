/**
 * Times the worker's token sampler (services/text/src/token-sampler.ts) per sampling setting, on
 * real next-token logits of fortunes-gpt (64 prompts from tang300), in microseconds per token:
 * drawing from the logits (`sample`, the path of requests with penalties or logprobs) and, for
 * settings without those, from probabilities the graph computes (`sampleProbs`; here softmaxed
 * beforehand, off the clock). For scale: a decode row's forward pass costs about 25 us on one CPU
 * thread (bench/text/pass-cost.ts). The checksum of the drawn ids shows whether a change to the
 * sampler changed what it draws.
 *
 *   npx tsx bench/text/sampling.ts
 */
import { createExecutor } from '@aigc/serving';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { SamplingParams } from '@aigc/proto';
import { DECODER_EXTENSION, DecoderModel } from '../../services/text/src/decoder-model.js';
import { readModelSpec } from '../../services/text/src/model-spec.js';
import { resolveSampling } from '../../services/text/src/sampling-params.js';
import { TextTokenizer } from '../../services/text/src/text-tokenizer.js';
import { TokenSampler } from '../../services/text/src/token-sampler.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const spec = readModelSpec(`${ROOT}models`, 'fortunes-gpt');
const executor = await createExecutor({ modelPath: spec.modelPath, name: spec.name, extension: DECODER_EXTENSION });
const model = new DecoderModel(executor, spec.name);
const tokenizer = TextTokenizer.fromFile(spec.tokenizerPath, spec.tokenizerConfigPath);
const text = readFileSync('/usr/share/games/fortunes/tang300', 'utf8');
const rows: Float32Array[] = [];
for (let k = 0; k < 64; k++) {
  const cache = model.createCache();
  const { logits } = await model.step([[{ cache, tokens: tokenizer.encode(text.slice(k * 97, k * 97 + 20)) }]], { logits: true });
  rows.push(logits[0]![0]!.slice());
  model.release(cache);
}
await executor.close();

const SETTINGS: [string, Partial<SamplingParams>][] = [
  ['greedy', { temperature: 0 }],
  ['temperature 1', { temperature: 1 }],
  ['temperature 0.8, top_k 40', { temperature: 0.8, topK: 40 }],
  ['temperature 0.8, top_p 0.9', { temperature: 0.8, topP: 0.9 }],
  ['temperature 0.8, top_p 0.95, repetition 1.1', { temperature: 0.8, topP: 0.95, repetitionPenalty: 1.1 }],
];
const N = 4000;
const softmax = (row: Float32Array, temperature: number) => {
  const max = Math.max(...row);
  const w = Float64Array.from(row, (v) => Math.exp((v - max) / temperature));
  const z = w.reduce((a, b) => a + b, 0);
  return Float32Array.from(w, (v) => v / z);
};
console.log('| setting | from logits: us per token | checksum | from probabilities: us per token | checksum |\n| --- | --- | --- | --- | --- |');
for (const [name, p] of SETTINGS) {
  const settings = resolveSampling({ maxTokens: 16, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [], seed: 1, ...p }, { defaultMaxTokens: 16, maxTokensLimit: 1024 });
  const sampler = new TokenSampler(settings, [1, 2, 3]);
  // Sampling works in place (penalties): each draw gets its own copy, made before the clock starts.
  const copies = Array.from({ length: N + 200 }, (_, i) => rows[i % rows.length]!.slice());
  for (let i = N; i < N + 200; i++) sampler.sample(copies[i]!);
  let checksum = 7;
  const started = performance.now();
  for (let i = 0; i < N; i++) checksum = (checksum * 31 + sampler.sample(copies[i]!).id) % 1000003;
  const cells = [`${(((performance.now() - started) / N) * 1000).toFixed(1)} | ${checksum}`];
  const fresh = new TokenSampler(settings, [1, 2, 3]);
  if (fresh.plainSampling) {
    const probs = rows.map((row) => softmax(row, settings.temperature));
    let sum = 7;
    const t = performance.now();
    for (let i = 0; i < N; i++) sum = (sum * 31 + fresh.sampleProbs(probs[i % probs.length]!).id) % 1000003;
    cells.push(`${(((performance.now() - t) / N) * 1000).toFixed(1)} | ${sum}`);
  } else cells.push('- | -');
  console.log(`| ${name} | ${cells.join(' | ')} |`);
}
