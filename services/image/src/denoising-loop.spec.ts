import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DenoisingLoop, type BatchingMode, type DenoiseState, type IterationRows } from './denoising-loop.js';
import { DiffusionModel } from './diffusion-model.js';
import type { ImageJob } from './image-job.js';
import { decodePng } from './png-decoder.js';

const MODEL_DIR = join(import.meta.dirname, '..', '..', '..', 'models', 'shapes-diffusion');

const job = (over: Partial<ImageJob> = {}): ImageJob => ({
  prompt: 'a red circle', negativePrompt: '', width: 32, height: 32, steps: 8, guidanceScale: 4,
  seed: 1234, n: 1, scheduler: 'ddim', priority: 2, preview: false, ...over,
});

let model: DiffusionModel;
const loops: Record<BatchingMode, DenoisingLoop> = {} as Record<BatchingMode, DenoisingLoop>;
const calls: IterationRows[][] = [];

beforeAll(async () => {
  model = await DiffusionModel.open(MODEL_DIR, 'shapes-diffusion');
  for (const batching of ['step', 'request', 'none'] as const) {
    loops[batching] = new DenoisingLoop(model, { batching, maxBatchRows: 32, maxQueue: 16, onIteration: (rows) => batching === 'step' && calls.push(rows) });
  }
});
afterAll(async () => {
  await Promise.all(Object.values(loops).map((l) => l.drain()));
  await model.close();
});

describe('DenoisingLoop', () => {
  it('gives byte-identical PNGs for the same seed, other images for another seed', async () => {
    const a = await loops.step.generate(job());
    const b = await loops.step.generate(job());
    const c = await loops.step.generate(job({ seed: 99 }));
    expect(a.pngs[0]!.equals(b.pngs[0]!)).toBe(true);
    expect(a.pngs[0]!.equals(c.pngs[0]!)).toBe(false);
    for (const r of [a, b, c]) expect(decodePng(r.pngs[0]!)).toMatchObject({ width: 32, height: 32, channels: 3 });
  });

  it('image i of a request equals a request for seed + i alone', async () => {
    const many = await loops.step.generate(job({ n: 3, seed: 500, scheduler: 'euler' }));
    expect(many.seeds).toEqual([500, 501, 502]);
    const third = await loops.step.generate(job({ n: 1, seed: 502, scheduler: 'euler' }));
    expect(decodePng(many.pngs[2]!).data).toEqual(decodePng(third.pngs[0]!).data);
    expect(many.pngs[0]!.equals(many.pngs[1]!)).toBe(false);
  });

  it('batched steps equal unbatched ones: requests sharing iterations at different steps match running alone', async () => {
    const jobs = [job({ seed: 1, steps: 10 }), job({ seed: 2, prompt: 'two blue squares', steps: 6, scheduler: 'euler' }), job({ seed: 3, prompt: 'a white triangle on the left', steps: 12, guidanceScale: 1 })];
    const finals = new Map<number, Float32Array>();
    const keep = (s: DenoiseState) => s.step === s.job.steps && finals.set(s.job.seed, s.latents.slice());
    calls.length = 0;
    // Each request arrives when the one before it has run two steps, so iterations hold requests at
    // different steps whatever the machine's speed.
    const gates = jobs.map(() => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      return { promise, resolve };
    });
    gates[0]!.resolve();
    const onStep = (s: DenoiseState): void => {
      keep(s);
      const index = jobs.findIndex((j) => j.seed === s.job.seed);
      if (s.step === 2) gates[index + 1]?.resolve();
    };
    const together = await Promise.all(jobs.map(async (j, i) => {
      await gates[i]!.promise;
      return loops.step.generate(j, { onStep });
    }));
    const mixed = calls.filter((rows) => rows.length > 1 && new Set(rows.map((r) => r.step)).size > 1);
    expect(mixed.length).toBeGreaterThan(0);
    for (const [i, j] of jobs.entries()) {
      let alone: Float32Array | undefined;
      const single = await loops.none.generate(j, { onStep: (s) => s.step === j.steps && (alone = s.latents.slice()) });
      const batched = finals.get(j.seed)!;
      // ONNX Runtime on CPU rounds the last bits of a row differently with batch size (measured:
      // ~1e-5 after 10 steps), so latents are compared within 1e-4 and decoded pixels within one level.
      const diff = batched.reduce((m, v, k) => Math.max(m, Math.abs(v - alone![k]!)), 0);
      expect(diff).toBeLessThan(1e-4);
      const pa = decodePng(together[i]!.pngs[0]!).data;
      const pb = decodePng(single.pngs[0]!).data;
      expect(pa.reduce((m, v, k) => Math.max(m, Math.abs(v - pb[k]!)), 0)).toBeLessThanOrEqual(1);
    }
  });

  it('per-request batching gives the same images as step-level batching', async () => {
    const a = await loops.request.generate(job({ seed: 77, n: 2 }));
    const b = await loops.step.generate(job({ seed: 77, n: 2 }));
    for (let i = 0; i < 2; i++) {
      const pa = decodePng(a.pngs[i]!).data;
      const pb = decodePng(b.pngs[i]!).data;
      expect(pa.reduce((m, v, k) => Math.max(m, Math.abs(v - pb[k]!)), 0)).toBeLessThanOrEqual(1);
    }
  });

  it('a cancelled request leaves the batch at the next step while the others finish', async () => {
    calls.length = 0;
    const controller = new AbortController();
    let cancelledId = 0;
    let stepAtAbort = 0;
    const victim = loops.step.generate(job({ seed: 10, steps: 40 }), {
      signal: controller.signal,
      onStart: (s) => (cancelledId = s.id),
      onStep: (s) => {
        if (s.step === 5) {
          stepAtAbort = calls.length;
          controller.abort();
        }
      },
    });
    const survivor = loops.step.generate(job({ seed: 11, steps: 30 }));
    await expect(victim).rejects.toMatchObject({ code: 1 });
    const done = await survivor;
    expect(done.steps).toBe(30);
    const withVictim = calls.filter((rows) => rows.some((r) => r.requestId === cancelledId));
    // Steps 0..4 ran, step 5's call may already have been formed when the abort fired; none after.
    expect(withVictim.length).toBeGreaterThanOrEqual(5);
    expect(withVictim.length).toBeLessThanOrEqual(6);
    expect(calls.slice(stepAtAbort + 1).some((rows) => rows.some((r) => r.requestId === cancelledId))).toBe(false);
    expect(loops.step.load).toEqual({ active: 0, waiting: 0 });
  });

  it('previews the current estimate as small PNGs', async () => {
    let pending: Promise<Buffer[]> | undefined;
    await loops.step.generate(job({ n: 2, steps: 4 }), { onStep: (s) => void (s.step === 2 && (pending = loops.step.preview(s))) });
    const previews = await pending!;
    expect(previews).toHaveLength(2);
    for (const p of previews) expect(decodePng(p).width).toBeLessThanOrEqual(64);
  });
});
