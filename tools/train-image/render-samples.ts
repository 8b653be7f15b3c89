/**
 * Renders the model card's sample images through the image service's own loop (TypeScript DDIM,
 * seeded noise, the ONNX parts, PngEncoder) and a 4x nearest-neighbour grid of them with prompts
 * in the card's order.
 *
 *   npx nx run @aigc/image:build && npx tsx tools/train-image/render-samples.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodePng, DenoisingLoop, DiffusionModel, encodePng } from '@aigc/image';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = `${ROOT}models/shapes-diffusion`;
const PROMPTS = ['a red circle', 'a blue square on the left', 'two yellow triangles', 'three green circles',
  'a purple triangle at the top', 'a white square in the center', 'two red squares', 'a green circle on the right'];
const SCALE = 4;

const model = await DiffusionModel.open(DIR, 'shapes-diffusion');
const loop = new DenoisingLoop(model, { batching: 'step', maxBatchRows: 32, maxQueue: 16 });
const results = await Promise.all(PROMPTS.map((prompt) => loop.generate({
  prompt, negativePrompt: '', width: 32, height: 32, steps: 25, guidanceScale: 4, seed: 1, n: 1, scheduler: 'ddim', priority: 2, preview: false,
})));
mkdirSync(`${DIR}/samples`, { recursive: true });
const cell = 32 * SCALE + 4;
const grid = new Uint8Array(cell * PROMPTS.length * cell * 3).fill(64);
results.forEach((r, i) => {
  writeFileSync(`${DIR}/samples/${PROMPTS[i]!.replaceAll(' ', '-')}.png`, r.pngs[0]!);
  const img = decodePng(r.pngs[0]!);
  for (let y = 0; y < 32 * SCALE; y++) {
    for (let x = 0; x < 32 * SCALE; x++) {
      const src = (Math.floor(y / SCALE) * 32 + Math.floor(x / SCALE)) * 3;
      const dst = ((y + 2) * cell * PROMPTS.length + i * cell + x + 2) * 3;
      grid.set(img.data.subarray(src, src + 3), dst);
    }
  }
});
writeFileSync(`${DIR}/samples/grid.png`, encodePng({ width: cell * PROMPTS.length, height: cell, channels: 3, data: grid }));
await loop.drain();
await model.close();
console.log(`wrote ${PROMPTS.length} samples and samples/grid.png`);
