/**
 * Where one decode step's time goes, at 1, 4 and 16 rows with ~150 cached positions each:
 * `session.run` in the worker, the worker's cache work (row moves, appending new keys/values),
 * the rest of the worker's call (feeds, logits rows), messaging between threads, and the main
 * thread's own work. "steady" keeps the same rows every step; "churn" swaps one row out and
 * another in every step (a sequence leaving and one joining), which moves a cache row.
 *
 *   npx tsx bench/text/step-profile.ts [--steps 60] [--past 150]
 */
import { createExecutor } from '@aigc/serving';
import { fileURLToPath } from 'node:url';
import { DECODER_EXTENSION, DecoderModel, type DecoderStats } from '../../services/text/src/decoder-model.js';
import { readModelSpec } from '../../services/text/src/model-spec.js';
import { prefilledCaches } from './caches.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const STEPS = Number(arg('--steps', '60'));
const PAST = Number(arg('--past', '150'));
const spec = readModelSpec(`${ROOT}models`, arg('--model', 'fortunes-gpt'));
const executor = await createExecutor({ modelPath: spec.modelPath, name: spec.name, extension: DECODER_EXTENSION });
const model = new DecoderModel(executor, spec.name);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const snapshot = (): DecoderStats => ({ ...model.stats });

const rows: string[] = [];
for (const B of [1, 4, 16]) {
  for (const mode of B === 1 ? ['steady'] : ['steady', 'churn']) {
    const caches = await prefilledCaches(model, mode === 'churn' ? B + 1 : B, PAST);
    const parts: Record<string, number[]> = { wall: [], session: [], cache: [], workerOther: [], transfer: [], main: [] };
    for (let i = 0; i < STEPS; i++) {
      // churn: leave out a different sequence each step, so one row leaves and one joins.
      const active = mode === 'churn' ? caches.filter((_, k) => k !== i % caches.length) : caches;
      const before = snapshot();
      const t = performance.now();
      await model.step([active.map((cache) => ({ cache, tokens: [7] }))]);
      const wall = performance.now() - t;
      const s = model.stats;
      const session = s.sessionMs - before.sessionMs;
      const cache = s.cacheMs - before.cacheMs;
      const workerOther = s.workerOtherMs - before.workerOtherMs;
      const transfer = s.transferMs - before.transferMs;
      parts.wall!.push(wall);
      parts.session!.push(session);
      parts.cache!.push(cache);
      parts.workerOther!.push(workerOther);
      parts.transfer!.push(transfer);
      parts.main!.push(wall - session - cache - workerOther - transfer);
    }
    for (const c of caches) model.release(c);
    const m = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, mean(v)]));
    rows.push(`| ${B} | ${mode} | ${m.wall!.toFixed(2)} | ${m.session!.toFixed(2)} | ${m.cache!.toFixed(2)} | ${m.workerOther!.toFixed(2)} | ${m.transfer!.toFixed(2)} | ${m.main!.toFixed(2)} |`);
  }
}
await executor.close();
console.log(`Decode step, ~${PAST}-${PAST + STEPS} cached positions per row, means of ${STEPS} steps (ms; the parts add up to the wall time):

| rows | batch | step wall | session.run | cache (moves, appends) | worker other | messaging | main thread |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}`);
