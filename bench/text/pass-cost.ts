/**
 * Times `session.run` of one decode pass of fortunes-gpt over 1-16 rows at 16-232 cached
 * positions (medians of 15 steps, ms): the data the continuous batcher's pass cost model
 * (`DECODE_PASS_COST` in services/text/src/continuous-batcher.ts) is fitted to.
 *
 *   npx tsx bench/text/pass-cost.ts
 */
import { createExecutor } from '@aigc/serving';
import { fileURLToPath } from 'node:url';
import { DECODER_EXTENSION, DecoderModel } from '../../services/text/src/decoder-model.js';
import { readModelSpec } from '../../services/text/src/model-spec.js';
import { prefilledCaches } from './caches.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const spec = readModelSpec(`${ROOT}models`, 'fortunes-gpt');
const executor = await createExecutor({ modelPath: spec.modelPath, name: spec.name, extension: DECODER_EXTENSION });
const model = new DecoderModel(executor, spec.name);
const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const out: string[] = [];
for (const past of [16, 48, 112, 176, 232]) {
  const line: string[] = [];
  for (const B of [1, 2, 4, 8, 16]) {
    const caches = await prefilledCaches(model, B, past);
    const xs: number[] = [];
    for (let i = 0; i < 15; i++) {
      const before = model.stats.sessionMs;
      await model.step([caches.map((cache) => ({ cache, tokens: [7] }))]);
      xs.push(model.stats.sessionMs - before);
    }
    for (const c of caches) model.release(c);
    line.push(med(xs).toFixed(3));
  }
  out.push(`past ${past}: ${line.join(' ')}`);
}
console.log('rows 1 2 4 8 16\n' + out.join('\n'));
await executor.close();
