/**
 * Image benchmark: open-loop Poisson arrivals of text-to-image requests against the default model,
 * for three ways of forming denoiser calls side by side in one run (same model, same sessions):
 *   step     step-level batching: each iteration one call with the rows of every active request
 *   request  per-request batching: each call holds one request's rows (its images x guidance pair)
 *   none     no batching: one row per call
 * Requests ask for one image with guidance 4 (two denoiser rows) and 10-40 steps (uniform), so
 * requests in a step-level batch are at different steps and leave at different times.
 *
 *   npx nx run @aigc/image:build && npx tsx bench/image/run.ts [--requests 48] [--rates 2,100] [--out bench/image/RESULTS.md]
 */
import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { DenoisingLoop, DiffusionModel, type BatchingMode, type ImageJob } from '@aigc/image';
import { rowsPerSecond } from '../lib/raw-rate.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const REQUESTS = Number(arg('--requests', '48'));
const RATES = arg('--rates', '2,100').split(',').map(Number);
const OUT = arg('--out', `${ROOT}bench/image/RESULTS.md`);
const MAX_ROWS = Number(arg('--max-rows', '32'));
const REPEATS = Number(arg('--repeats', '3'));
/** Intra-op threads of each ONNX session (the same for every mode). */
const THREADS = Number(arg('--threads', '1'));
const MODES: BatchingMode[] = ['step', 'request', 'none'];
const PROMPTS = ['a red circle', 'two blue squares', 'a yellow triangle on the left', 'three green circles', 'a white square at the top', 'two purple triangles'];

/** Deterministic uniform generator (mulberry32) so every mode sees the same arrivals and jobs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Phase {
  mode: BatchingMode;
  rate: number;
  imagesPerSecond: number;
  p50: number;
  p95: number;
  meanRows: number;
  calls: number;
  seconds: number;
  /** Process CPU time (all threads) per image: robust to other work sharing the machine. */
  cpuMsPerImage: number;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

async function phase(model: DiffusionModel, mode: BatchingMode, rate: number): Promise<Phase> {
  let calls = 0;
  let rows = 0;
  const loop = new DenoisingLoop(model, { batching: mode, maxBatchRows: MAX_ROWS, maxQueue: 4096, onIteration: (r) => {
    calls++;
    rows += r.reduce((n, x) => n + x.rows, 0);
  } });
  const random = rng(rate * 1000 + 7);
  const jobs: { at: number; job: ImageJob }[] = [];
  let at = 0;
  for (let i = 0; i < REQUESTS; i++) {
    at += -Math.log(1 - random()) / rate * 1000;
    const steps = 10 + Math.floor(random() * 31);
    jobs.push({ at, job: { prompt: PROMPTS[i % PROMPTS.length]!, negativePrompt: '', width: 32, height: 32, steps, guidanceScale: 4, seed: i, n: 1, scheduler: 'ddim', priority: 2, preview: false } });
  }
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const latencies: number[] = [];
  let last = start;
  await Promise.all(jobs.map(async ({ at: offset, job }) => {
    await new Promise((r) => setTimeout(r, offset));
    await loop.generate(job);
    const now = performance.now();
    latencies.push(now - start - offset);
    last = Math.max(last, now);
  }));
  await loop.drain();
  const cpu = process.cpuUsage(cpu0);
  const seconds = (last - start) / 1000;
  return { mode, rate, imagesPerSecond: REQUESTS / seconds, p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), meanRows: rows / calls, calls, seconds, cpuMsPerImage: (cpu.user + cpu.system) / 1000 / REQUESTS };
}

const f = (x: number, d = 1) => x.toFixed(d);

/**
 * The denoiser alone: its ONNX session run back to back on this thread (same intra-op threads),
 * no serving, at each row count; rows/s, the best of three 0.5 s windows with the sizes
 * interleaved. Its ratios bound what any batching of denoiser calls can gain on this machine.
 */
async function denoiserCeiling(rowCounts: number[]): Promise<Map<number, number>> {
  const dir = `${ROOT}models/shapes-diffusion/unet/`;
  const config = JSON.parse(readFileSync(`${dir}config.json`, 'utf8')) as { sample_size: number; in_channels: number; cross_attention_dim: number };
  const session = await ort.InferenceSession.create(`${dir}model.onnx`, { intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const tokens = session.inputMetadata.find((m) => m.name === 'encoder_hidden_states');
  const length = tokens?.isTensor && typeof tokens.shape[1] === 'number' ? tokens.shape[1] : 16;
  const random = rng(7);
  const out = new Map<number, number>();
  for (let round = 0; round < 3; round++) {
    for (const b of rowCounts) {
      const size = config.sample_size;
      const floats = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
      const feeds = {
        sample: new ort.Tensor('float32', floats(b * config.in_channels * size * size), [b, config.in_channels, size, size]),
        timestep: new ort.Tensor('float32', new Float32Array(b).fill(500), [b]),
        encoder_hidden_states: new ort.Tensor('float32', floats(b * length * config.cross_attention_dim), [b, length, config.cross_attention_dim]),
      };
      out.set(b, Math.max(out.get(b) ?? 0, await rowsPerSecond(() => session.run(feeds), b)));
    }
  }
  await session.release();
  return out;
}

const ROW_COUNTS = [1, 2, 4, 8, 16, 32].filter((n) => n <= MAX_ROWS);
const ceiling = await denoiserCeiling(ROW_COUNTS);
const model = await DiffusionModel.open(`${ROOT}models/shapes-diffusion`, 'shapes-diffusion', { intraOpThreads: THREADS });
const started = performance.now();
// Warm-up so the first mode does not pay session start-up.
await new DenoisingLoop(model, { batching: 'request', maxBatchRows: MAX_ROWS, maxQueue: 16 }).generate({ prompt: 'a red circle', negativePrompt: '', width: 32, height: 32, steps: 5, guidanceScale: 4, seed: 1, n: 1, scheduler: 'ddim', priority: 2, preview: false });
// Modes take turns, REPEATS rounds, and each figure is the median over rounds: other work on a
// shared machine comes and goes, and interleaving spreads it over every mode alike.
const runs: Phase[] = [];
for (const rate of RATES) {
  for (let round = 0; round < REPEATS; round++) {
    for (const mode of MODES) {
      const r = await phase(model, mode, rate);
      runs.push(r);
      console.log(`round ${round + 1} ${mode} @ ${rate}/s: ${f(r.imagesPerSecond, 2)} images/s, p95 ${f(r.p95, 0)} ms, ${f(r.cpuMsPerImage, 0)} CPU ms/image, mean rows/call ${f(r.meanRows)}`);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Phase[] = RATES.flatMap((rate) => MODES.map((mode) => {
  const rs = runs.filter((r) => r.mode === mode && r.rate === rate);
  return { mode, rate, imagesPerSecond: median(rs.map((r) => r.imagesPerSecond)), p50: median(rs.map((r) => r.p50)), p95: median(rs.map((r) => r.p95)), meanRows: median(rs.map((r) => r.meanRows)), calls: median(rs.map((r) => r.calls)), seconds: median(rs.map((r) => r.seconds)), cpuMsPerImage: median(rs.map((r) => r.cpuMsPerImage)) };
}));
await model.close();
const seconds = (performance.now() - started) / 1000;
const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpus()[0]?.model ?? 'unknown';
const nproc = execSync('nproc').toString().trim();
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const top = Math.max(...RATES);
const at = (mode: BatchingMode) => results.find((r) => r.mode === mode && r.rate === top)!;
const lines = [
  '# Image benchmark results',
  '',
  `Command: \`npx tsx bench/image/run.ts --requests ${REQUESTS} --rates ${RATES.join(',')} --max-rows ${MAX_ROWS} --repeats ${REPEATS} --threads ${THREADS}\` (from the repo root, after \`npx nx run @aigc/image:build\`).`,
  `Machine: nproc ${nproc}, CPU ${cpu}, Node ${process.version}, load average at the end ${load} (the machine was shared). Whole run: ${f(seconds, 0)} s.`,
  '',
  `Model: \`models/shapes-diffusion\` (32x32, latent 12x8x8), one denoiser session with ${THREADS} intra-op thread(s) in one worker thread for every mode. Each phase offers ${REQUESTS} requests with Poisson arrivals at the given rate; each asks for one image, guidance 4 (two denoiser rows), DDIM with 10-40 steps (uniform, same draw for every mode). Latency runs from a request's scheduled arrival to its PNG; images/s is images over the time from the first arrival to the last PNG; CPU ms/image is the process's CPU time (every thread: event loop and ONNX Runtime workers) per image. Modes take turns for ${REPEATS} rounds; each figure is the median over rounds.`,
  '',
  '| batching | offered req/s | images/s | p50 ms | p95 ms | CPU ms/image | denoiser calls | mean rows per call |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...results.map((r) => `| ${r.mode} | ${r.rate} | ${f(r.imagesPerSecond, 2)} | ${f(r.p50, 0)} | ${f(r.p95, 0)} | ${f(r.cpuMsPerImage, 0)} | ${r.calls} | ${f(r.meanRows)} |`),
  '',
  `At ${top} req/s (saturation: the offered load exceeds every mode's capacity): step-level / per-request = ${f(at('step').imagesPerSecond / at('request').imagesPerSecond, 2)}x images/s (${f(at('request').cpuMsPerImage / at('step').cpuMsPerImage, 2)}x by CPU time per image), step-level / none = ${f(at('step').imagesPerSecond / at('none').imagesPerSecond, 2)}x images/s (${f(at('none').cpuMsPerImage / at('step').cpuMsPerImage, 2)}x by CPU time).`,
  '',
  '## The denoiser alone (raw ONNX Runtime ceiling)',
  '',
  `The denoiser's session run back to back on the main thread with ${THREADS} intra-op thread(s), no serving: denoiser rows per second at each call size (best of three 0.5 s windows).`,
  '',
  `| rows per call | ${ROW_COUNTS.join(' | ')} |`,
  `| --- | ${ROW_COUNTS.map(() => '---').join(' | ')} |`,
  `| rows/s | ${ROW_COUNTS.map((n) => f(ceiling.get(n)!, 0)).join(' | ')} |`,
  `| vs 2 rows per call | ${ROW_COUNTS.map((n) => `${f(ceiling.get(n)! / ceiling.get(2)!, 2)}x`).join(' | ')} |`,
  '',
  `Per-request batching calls the denoiser with 2 rows (the guidance pair); step-level batching's calls held ${f(at('step').meanRows)} rows on average at saturation. Calls of ${MAX_ROWS} rows, the most a step may hold, do ${f(ceiling.get(MAX_ROWS)! / ceiling.get(2)!, 2)}x the rows/s of 2-row calls here: with the denoiser most of each image's cost, no way of forming calls can make step-level batching more than about that much faster than per-request batching on this machine.`,
  '',
];
writeFileSync(OUT, lines.join('\n'));
console.log(lines.join('\n'));
