/**
 * Batching benchmark: open-loop Poisson load at several rates up to saturation, plus a bursty
 * pattern, against a model of the platform (default: the trained embedding model fortunes-embed),
 * for four schedulers side by side in one run: none (one request per run), static (fixed size,
 * fixed wait), dynamic, adaptive. Compared with the raw ONNX Runtime ceiling (the same model run
 * directly, same threads, same batch sizes). The bursty pattern swings between 0.75x and 1.75x the
 * saturation throughput static batching reached in its Poisson phases, so it asks what each
 * scheduler does with bursts above a fixed batcher's capacity.
 *
 *   npx tsx bench/batching/run.ts [--model fortunes-embed] [--threads 2] [--phase-ms 5000] [--out bench/batching/RESULTS.md]
 */
import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { createExecutor, parseModelConfig, ServedModel, tensor, type BatcherObserver, type OnnxExecutor, type TensorMap } from '@aigc/serving';
import { rowsPerSecond } from '../lib/raw-rate.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const MODEL = arg('--model', 'fortunes-embed');
const MODEL_DIR = `${ROOT}models/${MODEL}/`;
const MODEL_PATH = `${MODEL_DIR}1/model.onnx`;
const SEQ = 32;
/** Token ids are drawn from [4, VOCAB): inside every model's vocabulary, past its special tokens. */
const VOCAB = 900;
const MAX_BATCH = 32;
const PHASE_MS = Number(arg('--phase-ms', '3000'));
/** Every load runs every scheduler once per round; figures are medians over rounds. */
const ROUNDS = Number(arg('--rounds', '3'));
const OUT = arg('--out', `${ROOT}bench/batching/RESULTS.md`);
const baseConfig = JSON.parse(readFileSync(`${MODEL_DIR}config.json`, 'utf8')) as Record<string, unknown>;
/** Intra-op threads of the one session every scheduler uses (and the raw ceiling). */
const THREADS = Number(arg('--threads', String(cpus().length)));
/** Sessions (worker threads) of each served scheduler. */
const INSTANCES = Number(arg('--instances', '1'));
/** The bench's own queue policy, the same for every served scheduler. */
const BENCH_BATCHING = { priorityLevels: 1, defaultPriority: 1, queuePolicies: [{ maxQueueSize: 512, defaultTimeoutMs: 2000 }], maxBatchCost: SEQ * MAX_BATCH };

function randomIds(rows: number): TensorMap {
  const values = Array.from({ length: rows * SEQ }, () => 4 + Math.floor(Math.random() * (VOCAB - 4)));
  return { input_ids: tensor('int64', [rows, SEQ], values) };
}

/**
 * Raw ceiling: one session on this thread, back-to-back runs, no serving. `measure` gives
 * requests per second at each batch size, the best of two 0.5 s windows with the sizes interleaved.
 */
async function openRaw(): Promise<{ measure(batchSizes: number[]): Promise<Map<number, number>>; close(): Promise<void> }> {
  const session = await ort.InferenceSession.create(MODEL_PATH, { intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const measure = async (batchSizes: number[]) => {
    const out = new Map<number, number>();
    for (let window = 0; window < 2; window++) {
      for (const b of batchSizes) {
        const ids = randomIds(b).input_ids!;
        const feeds = { input_ids: new ort.Tensor('int64', ids.data as BigInt64Array, [b, SEQ]), attention_mask: new ort.Tensor('int64', new BigInt64Array(b * SEQ).fill(1n), [b, SEQ]) };
        out.set(b, Math.max(out.get(b) ?? 0, await rowsPerSecond(() => session.run(feeds), b)));
      }
    }
    return out;
  };
  return { measure, close: () => session.release() };
}

/** A scheduler under test: submit one request, resolve when answered. */
interface Scheduler {
  name: string;
  submit(inputs: TensorMap): Promise<unknown>;
  batches: { count: number; rows: number };
  close(): Promise<void>;
}

async function served(name: string, batching: Record<string, unknown>, maxBatchSize: number): Promise<Scheduler> {
  const config = parseModelConfig(
    { ...baseConfig, text: undefined, maxBatchSize, batching: { ...(baseConfig.batching as object), ...BENCH_BATCHING, ...batching }, instances: { count: INSTANCES, intraOpThreads: THREADS, interOpThreads: 1 } },
    MODEL,
  );
  const batches = { count: 0, rows: 0 };
  const observer: BatcherObserver = { batchStarted: ({ size }) => ((batches.count += 1), (batches.rows += size)) };
  const model = await ServedModel.load({ config, version: 1, modelPath: MODEL_PATH, observer });
  return { name, batches, submit: (inputs) => model.infer(inputs, { outputs: ['embedding'] }), close: () => model.unload() };
}

/**
 * Static batching: close a batch at `size` requests or `waitMs` after its first, whatever the
 * executor is doing; closed batches wait their turn in order. It has the bench's queue policy
 * too, like the served schedulers: at most 512 requests waiting (open batch and closed batches not
 * yet running; more are refused at once), and a request whose batch has not started within 2 s fails.
 */
async function staticBatching(size: number, waitMs: number): Promise<Scheduler> {
  const executor: OnnxExecutor = await createExecutor({ modelPath: MODEL_PATH, intraOpThreads: THREADS, interOpThreads: 1 });
  const { maxQueueSize, defaultTimeoutMs } = BENCH_BATCHING.queuePolicies[0]!;
  const batches = { count: 0, rows: 0 };
  type Request = { ids: TensorMap; at: number; resolve: (v: unknown) => void; reject: (e: unknown) => void };
  let open: Request[] = [];
  const closed: Request[][] = [];
  let waiting = 0;
  let running = false;
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    if (running) return;
    const next = closed.shift();
    if (!next) return;
    waiting -= next.length;
    const now = performance.now();
    const batch: Request[] = [];
    for (const r of next) {
      if (now - r.at > defaultTimeoutMs) r.reject(new Error('queue timeout'));
      else batch.push(r);
    }
    if (batch.length === 0) return start();
    running = true;
    batches.count++;
    batches.rows += batch.length;
    const ids = new BigInt64Array(batch.length * SEQ);
    batch.forEach((r, i) => ids.set(r.ids.input_ids!.data as BigInt64Array, i * SEQ));
    const mask = new BigInt64Array(batch.length * SEQ).fill(1n);
    executor
      .run({ input_ids: { type: 'int64', dims: [batch.length, SEQ], data: ids }, attention_mask: { type: 'int64', dims: [batch.length, SEQ], data: mask } }, { transfer: true, outputs: ['embedding'] })
      .then(
        (r) => batch.forEach((x) => x.resolve(r)),
        (e: unknown) => batch.forEach((x) => x.reject(e)),
      )
      .finally(() => {
        running = false;
        start();
      });
  };
  const close = () => {
    clearTimeout(timer);
    timer = undefined;
    if (open.length === 0) return;
    closed.push(open);
    open = [];
    start();
  };
  return {
    name: `static (size ${size}, wait ${waitMs} ms)`,
    batches,
    submit: (ids) =>
      new Promise((resolve, reject) => {
        if (waiting >= maxQueueSize) return reject(new Error('queue full'));
        waiting++;
        open.push({ ids, at: performance.now(), resolve, reject });
        if (open.length >= size) close();
        else timer ??= setTimeout(close, waitMs);
      }),
    close: () => executor.close(),
  };
}

interface PhaseResult {
  scheduler: string;
  load: string;
  offered: number;
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
  meanBatch: number;
  failed: number;
  /** Requests answered within {@link SLO_MS} of their arrival, per second of the phase. */
  goodput: number;
  /** Throughput as a share of the raw ceiling: at the highest rate, raw batch 32 measured just before this phase; else the round's ceiling. */
  ofCeiling: number;
}

/** The latency objective of the goodput column. */
const SLO_MS = 100;

const quantile = (sorted: number[], q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);

/** Open-loop load: arrivals at precomputed Poisson times, rate given as a function of time. */
async function phase(s: Scheduler, load: string, rateAt: (tMs: number) => number): Promise<PhaseResult> {
  const arrivals: number[] = [];
  for (let t = 0; t < PHASE_MS; ) {
    t += -Math.log(1 - Math.random()) * (1000 / rateAt(t));
    if (t < PHASE_MS) arrivals.push(t);
  }
  const pool = Array.from({ length: 64 }, () => randomIds(1));
  const latencies: number[] = [];
  let failed = 0;
  const before = { ...s.batches };
  const start = performance.now();
  const pending: Promise<void>[] = [];
  let next = 0;
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now() - start;
      while (next < arrivals.length && arrivals[next]! <= now) {
        const at = arrivals[next]!;
        const ids = pool[next % pool.length]!;
        const copy = { input_ids: { ...ids.input_ids!, data: ids.input_ids!.data.slice() } };
        pending.push(s.submit(copy).then(
          () => void latencies.push(performance.now() - start - at),
          () => void failed++,
        ));
        next++;
      }
      if (next < arrivals.length) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  await Promise.all(pending);
  const elapsed = Math.max(PHASE_MS, performance.now() - start);
  latencies.sort((a, b) => a - b);
  const batches = s.batches.count - before.count;
  return {
    scheduler: s.name,
    load,
    offered: (arrivals.length * 1000) / PHASE_MS,
    throughput: (latencies.length * 1000) / elapsed,
    p50: quantile(latencies, 0.5),
    p95: quantile(latencies, 0.95),
    p99: quantile(latencies, 0.99),
    meanBatch: batches === 0 ? 0 : (s.batches.rows - before.rows) / batches,
    failed,
    goodput: (latencies.filter((l) => l <= SLO_MS).length * 1000) / elapsed,
    ofCeiling: NaN,
  };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const sizes = [1, 8, 16, 32];
  const raw = await openRaw();
  // Rates are fixed from a first measurement; the ceiling reported is the median of one
  // measurement per round, taken between the rounds' phases like everything else.
  const first = await raw.measure(sizes);
  const rates = [0.1, 0.3, 0.5, 0.7, 0.9, 1.2].map((f) => Math.round(f * Math.max(...first.values())));
  const only = arg('--only', '');
  const makers: Array<() => Promise<Scheduler>> = [
    () => served('none (max batch 1)', { maxQueueDelayMs: 0 }, 1),
    () => staticBatching(16, 5),
    () => served('dynamic (max 32, delay 2 ms)', { maxQueueDelayMs: 2 }, MAX_BATCH),
    () => served('adaptive (max 32, delay <= 10 ms, target 50 ms)', { maxQueueDelayMs: 10, adaptive: { targetLatencyMs: 50 } }, MAX_BATCH),
  ];
  // Every scheduler stays open (an idle worker costs nothing) so that each load runs them in turn.
  const opened = await Promise.all(makers.map((make) => make()));
  const schedulers = opened.filter((s) => !only || s.name.startsWith(only));
  for (const s of schedulers) await phase(s, 'warm-up', () => rates[1]!).catch(() => undefined);
  const runs: PhaseResult[] = [];
  const ceilings: Map<number, number>[] = [];
  const record = (r: PhaseResult) => {
    runs.push(r);
    process.stderr.write(`${JSON.stringify(r)}\n`);
  };
  /**
   * Each scheduler in turn, the order rotated every round so none always runs first. At the
   * highest rate the raw ceiling (batch 32) is measured right before each phase, so a scheduler's
   * share of it compares two measurements a second apart, whatever the machine's speed then.
   */
  const inTurn = async (round: number, load: string, rateAt: (tMs: number) => number) => {
    for (let k = 0; k < schedulers.length; k++) {
      const adjacent = load === `poisson ${rates.at(-1)}/s` ? (await raw.measure([MAX_BATCH])).get(MAX_BATCH)! : Math.max(...ceilings[round]!.values());
      const r = await phase(schedulers[(k + round) % schedulers.length]!, load, rateAt);
      record({ ...r, ofCeiling: r.throughput / adjacent });
    }
  };
  let burst: { low: number; high: number; periodMs: number } | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    ceilings.push(round === 0 ? first : await raw.measure(sizes));
    for (const rate of rates) await inTurn(round, `poisson ${rate}/s`, () => rate);
    // Bursts around static batching's capacity (its first round at the highest rate): low phases
    // it can serve, high ones it cannot.
    if (!burst) {
      const staticCapacity = runs.find((r) => r.scheduler.startsWith('static') && r.load === `poisson ${rates.at(-1)}/s`)?.throughput ?? Math.max(...first.values());
      burst = { low: Math.round(0.75 * staticCapacity), high: Math.round(1.75 * staticCapacity), periodMs: 500 };
    }
    const b = burst;
    await inTurn(round, `bursty ${b.low}<->${b.high}/s`, (t) => (Math.floor(t / b.periodMs) % 2 === 0 ? b.low : b.high));
  }
  for (const s of opened) await s.close();
  await raw.close();
  const ceiling = new Map(sizes.map((n) => [n, median(ceilings.map((c) => c.get(n)!))]));
  const results = mediansOf(runs);
  writeFileSync(OUT, report(results, ceiling, ceilings, rates, burst!, (Date.now() - t0) / 1000));
  process.stdout.write(`wrote ${OUT}\n`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Per scheduler and load, the median of each figure over rounds. */
function mediansOf(runs: PhaseResult[]): PhaseResult[] {
  const keys = [...new Set(runs.map((r) => `${r.scheduler}\u0000${r.load}`))];
  return keys.map((key) => {
    const [scheduler, load] = key.split('\u0000') as [string, string];
    const rs = runs.filter((r) => r.scheduler === scheduler && r.load === load);
    const m = (pick: (r: PhaseResult) => number) => median(rs.map(pick));
    return { scheduler, load, offered: m((r) => r.offered), throughput: m((r) => r.throughput), p50: m((r) => r.p50), p95: m((r) => r.p95), p99: m((r) => r.p99), meanBatch: m((r) => r.meanBatch), failed: m((r) => r.failed), goodput: m((r) => r.goodput), ofCeiling: m((r) => r.ofCeiling) };
  });
}

function report(results: PhaseResult[], ceiling: Map<number, number>, ceilings: Map<number, number>[], rates: number[], burst: { low: number; high: number }, seconds: number): string {
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const nproc = execSync('nproc').toString().trim();
  const sat = `poisson ${rates.at(-1)}/s`;
  const get = (prefix: string, load: string) => results.find((r) => r.scheduler.startsWith(prefix) && r.load === load);
  const burstLoad = `bursty ${burst.low}<->${burst.high}/s`;
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const lines = [
    '# Batching benchmark results',
    '',
    `Command: \`npx tsx bench/batching/run.ts --phase-ms ${PHASE_MS} --rounds ${ROUNDS}\` (from the repo root, after \`npx nx run serving:build\`).`,
    `Machine: nproc ${nproc}, CPU ${cpu}, Node ${process.version}, onnxruntime-node ${ort.env.versions.node}, load average at the end ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}. Whole run: ${f(seconds, 0)} s.`,
    '',
    `Model: \`models/${MODEL}\`, ${SEQ} tokens per request, one session with ${THREADS} intra-op threads in one worker thread for every scheduler; the raw ceiling uses the same session options directly on the main thread, no serving.`,
    `Each load phase offers ${PHASE_MS / 1000} s of open-loop arrivals; latency is measured from each request's scheduled arrival to its answer. Queue limit 512, queue timeout 2 s (requests past it count as failed). Static batching has the same queue policy. Poisson rates are fractions of the best raw ceiling measured at the start; the bursty pattern alternates every 500 ms between 0.75x and 1.75x static batching's throughput at the highest Poisson rate in the first round (${burst.low} and ${burst.high}/s).`,
    `Every scheduler stays open for the whole run and each load runs them in turn, ${ROUNDS} rounds, the order rotated each round; the raw ceiling is measured at the start of each round. Every figure is the median over rounds: this machine's speed drifts by a third over minutes (other tenants of the host), and interleaving spreads that over every scheduler alike.`,
    '',
    '## Raw ONNX Runtime ceiling',
    '',
    `| batch size | requests/s (median) | each round (best of two 0.5 s windows) |`,
    '| --- | --- | --- |',
    ...[...ceiling].map(([b, r]) => `| ${b} | ${f(r, 0)} | ${ceilings.map((c) => f(c.get(b)!, 0)).join(', ')} |`),
    '',
    '## Per load',
    '',
    `| scheduler | load | offered/s | throughput/s | goodput/s (<= ${SLO_MS} ms) | p50 ms | p95 ms | p99 ms | mean batch | failed | of raw ceiling |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...results.map((r) => `| ${r.scheduler} | ${r.load} | ${f(r.offered, 0)} | ${f(r.throughput, 0)} | ${f(r.goodput, 0)} | ${f(r.p50)} | ${f(r.p95)} | ${f(r.p99)} | ${f(r.meanBatch)} | ${r.failed} | ${f(100 * r.ofCeiling, 0)}% |`),
    '',
    `Of raw ceiling: at the highest Poisson rate, the phase's throughput over raw batch ${MAX_BATCH} measured right before it (median of the rounds' ratios); at other loads, over the round's best raw figure.`,
    '',
    '## Targets',
    '',
  ];
  const none = get('none', sat);
  const dyn = get('dynamic', sat);
  const ada = get('adaptive', sat);
  const stBurst = get('static', burstLoad);
  const dynBurst = get('dynamic', burstLoad);
  if (!none || !dyn || !ada || !stBurst || !dynBurst) lines.push('(targets need every scheduler; this run had `--only`)', '');
  else lines.push(
    `- dynamic vs no batching at saturation (${sat}): throughput ${f(dyn.throughput / none.throughput, 2)}x (target >= 3x); p95 ${f(dyn.p95)} ms vs ${f(none.p95)} ms (target: no worse).`,
    `- dynamic vs static under bursty load: throughput ${f(dynBurst.throughput / stBurst.throughput, 2)}x (target >= 1.25x); goodput within ${SLO_MS} ms ${f(dynBurst.goodput / Math.max(stBurst.goodput, 1e-9), 2)}x (${f(dynBurst.goodput, 0)} vs ${f(stBurst.goodput, 0)}/s); p95 ${f(dynBurst.p95)} ms vs ${f(stBurst.p95)} ms.`,
    `- dynamic at saturation: ${f(100 * dyn.ofCeiling, 0)}% of the raw ceiling at batch ${MAX_BATCH}, measured right before each of its phases (target >= 85%; median over rounds); adaptive ${f(100 * ada.ofCeiling, 0)}%.`,
    '',
    'What the model allows on this machine (from the raw ceiling above):',
    '',
    `- raw ONNX Runtime at batch ${MAX_BATCH} does ${f(ceiling.get(MAX_BATCH)! / ceiling.get(1)!, 2)}x the requests/s of batch 1. Dynamic batching beats no batching by more than that only as far as serving one request per run costs more than serving batches (no batching ran at ${f((100 * none.throughput) / ceiling.get(1)!, 0)}% of raw batch 1, dynamic at ${f((100 * dyn.throughput) / ceiling.get(MAX_BATCH)!, 0)}% of raw batch ${MAX_BATCH}).`,
    `- raw batch ${MAX_BATCH} does ${f(ceiling.get(MAX_BATCH)! / ceiling.get(16)!, 2)}x the requests/s of batch 16, static batching's size. Once both are saturated, that is the most throughput dynamic batching can gain over it; below saturation both serve what is offered.`,
    '',
  );
  return lines.join('\n');
}

await main();
