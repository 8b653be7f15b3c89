/** Shared by the decode-step benches (step-profile.ts, pass-cost.ts). */
import type { DecoderModel, SequenceCache } from '../../services/text/src/decoder-model.js';

/** Caches of `n` new sequences prefilled to `past` positions (chunks of 30 made-up tokens). */
export async function prefilledCaches(model: DecoderModel, n: number, past: number): Promise<SequenceCache[]> {
  const caches = Array.from({ length: n }, () => model.createCache());
  for (let done = 0; done < past; done += 30) {
    const chunk = Math.min(30, past - done);
    await model.step([caches.map((cache) => ({ cache, tokens: Array.from({ length: chunk }, (_, j) => 10 + ((done + j) % 50)) }))]);
  }
  return caches;
}
