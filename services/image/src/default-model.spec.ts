import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExecutor, type OnnxExecutor } from '@aigc/serving';
import { DenoisingLoop } from './denoising-loop.js';
import { DiffusionModel } from './diffusion-model.js';
import { decodePng } from './png-decoder.js';

// The default model, judged end to end through this service's own loop (TypeScript schedulers,
// seeded noise, ONNX parts, PNG) by the separate attribute classifier its recipe trained
// (models/shapes-diffusion/eval/, see MODEL_CARD.md).
const MODEL_DIR = join(import.meta.dirname, '..', '..', '..', 'models', 'shapes-diffusion');
const labels = JSON.parse(readFileSync(join(MODEL_DIR, 'eval', 'labels.json'), 'utf8')) as { heads: { name: string; labels: string[] }[] };
const [COLOURS, SHAPES, COUNTS, POSITIONS] = labels.heads.map((h) => h.labels) as [string[], string[], string[], string[]];
const PHRASES: Record<string, string> = { left: 'on the left', right: 'on the right', top: 'at the top', bottom: 'at the bottom', center: 'in the center' };
const COUNT_WORDS = ['a', 'two', 'three'];

interface Expected { prompt: string; colour: number; shape: number; count: number; position: number }

/** 36 prompts covering every colour, shape, count and position of the grammar. */
function prompts(): Expected[] {
  const out: Expected[] = [];
  for (let i = 0; i < 36; i++) {
    const colour = i % COLOURS.length;
    const shape = Math.floor(i / COLOURS.length) % SHAPES.length;
    const count = i % 4 === 3 ? 1 + (i % 2) : 0; // a quarter with two or three objects
    const position = count === 0 && i % 3 !== 0 ? i % POSITIONS.length : -1;
    const noun = SHAPES[shape]! + (count > 0 ? 's' : '');
    const where = position >= 0 ? ` ${PHRASES[POSITIONS[position]!]}` : '';
    out.push({ prompt: `${COUNT_WORDS[count]} ${COLOURS[colour]} ${noun}${where}`, colour, shape, count, position });
  }
  return out;
}

let model: DiffusionModel;
let judge: OnnxExecutor;
beforeAll(async () => {
  model = await DiffusionModel.open(MODEL_DIR, 'shapes-diffusion');
  judge = await createExecutor({ modelPath: join(MODEL_DIR, 'eval', 'attribute_classifier.onnx') });
});
afterAll(async () => {
  await model?.close();
  await judge?.close();
});

const argmax = (xs: Float32Array, from: number, size: number) => {
  let best = 0;
  for (let i = 1; i < size; i++) if (xs[from + i]! > xs[from + best]!) best = i;
  return best;
};

describe('the default model (shapes-diffusion)', () => {
  it("draws what the prompt names: colour, shape, count and position by the card's classifier", async () => {
    const loop = new DenoisingLoop(model, { batching: 'step', maxBatchRows: 32, maxQueue: 64 });
    const cases = prompts();
    const results = await Promise.all(cases.map((c, i) => loop.generate({
      prompt: c.prompt, negativePrompt: '', width: 32, height: 32, steps: 25, guidanceScale: 4, seed: 1000 + i, n: 1, scheduler: 'ddim', priority: 2, preview: false,
    })));
    const pixels = new Float32Array(cases.length * 3 * 32 * 32);
    results.forEach((r, i) => {
      const img = decodePng(r.pngs[0]!);
      for (let p = 0; p < 32 * 32; p++) for (let ch = 0; ch < 3; ch++) pixels[i * 3072 + ch * 1024 + p] = img.data[p * 3 + ch]! / 255;
    });
    const { outputs } = await judge.run({ image: { type: 'float32', dims: [cases.length, 3, 32, 32], data: pixels } });
    const logits = outputs.logits!.data as Float32Array;
    const width = COLOURS.length + SHAPES.length + COUNTS.length + POSITIONS.length;
    const hits = { colour: 0, shape: 0, count: 0, position: 0, positioned: 0 };
    cases.forEach((c, i) => {
      const at = i * width;
      if (argmax(logits, at, COLOURS.length) === c.colour) hits.colour++;
      if (argmax(logits, at + COLOURS.length, SHAPES.length) === c.shape) hits.shape++;
      if (argmax(logits, at + COLOURS.length + SHAPES.length, COUNTS.length) === c.count) hits.count++;
      if (c.position >= 0) {
        hits.positioned++;
        if (argmax(logits, at + COLOURS.length + SHAPES.length + COUNTS.length, POSITIONS.length) === c.position) hits.position++;
      }
    });
    const accuracy = {
      colour: hits.colour / cases.length,
      shape: hits.shape / cases.length,
      count: hits.count / cases.length,
      position: hits.position / hits.positioned,
    };
    console.log(`default model, judged through the service: ${JSON.stringify(accuracy)}`);
    // The issue asks for 80% per attribute. Measured with this model: colour 100%, shape 97.2%, count
    // 97.2%, position 100% (18 of 18); the 300-prompt evaluation of MODEL_CARD.md agrees.
    expect(accuracy).toEqual({
      colour: expect.toSatisfy((v: number) => v >= 0.8),
      shape: expect.toSatisfy((v: number) => v >= 0.8),
      count: expect.toSatisfy((v: number) => v >= 0.8),
      position: expect.toSatisfy((v: number) => v >= 0.8),
    });
  });
});
