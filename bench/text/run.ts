/**
 * Text generation benchmark: one Poisson arrival trace with mixed prompt and output lengths,
 * replayed against the same model in one run under three batching modes: continuous
 * (iteration-level, services/text's ContinuousBatcher), request-level dynamic batching
 * (RequestBatcher over libs/serving's DynamicBatcher) and none (one request at a time).
 * Reports output tokens/s, time to first token and time per output token (p50/p95), goodput
 * (requests/s that met the SLO), and where each mode's time went (services/text DecoderStats).
 * End-of-sequence is disabled so every request generates exactly its max_tokens and the three
 * modes do identical work. bench/text/step-profile.ts times single decode steps.
 *
 *   npx tsx bench/text/run.ts [--requests 300] [--rate 0] [--load 6] [--rounds 2] [--instances 1] [--threads 1]
 *                             [--max-active 0] [--kv-tokens 0] [--step-tokens 0] [--prefill-chunk 0] [--sweep 16:4096,32:8192]
 *                             [--temperature 0] [--top-p 1] [--modes continuous,request,none] [--out bench/text/RESULTS.md]
 *
 * --rate 0 picks --load times the measured one-at-a-time capacity: at 6x every mode is saturated
 * (more arrives than any serves), so output tokens/s is each mode's capacity. Queues are unbounded.
 * --max-active is both the continuous batcher's most active sequences and request-level's max batch,
 * --kv-tokens the KV-cache budget both admit against (0: the model's config.json). --sweep also runs
 * continuous and request-level at other max-batch:KV-budget pairs, interleaved in the same rounds.
 */
import { execSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { DecoderStats } from '../../services/text/src/decoder-model.js';
import { readModelSpec } from '../../services/text/src/model-spec.js';
import { openGenerator, type BatchingMode } from '../../services/text/src/open-generator.js';
import { resolveSampling } from '../../services/text/src/sampling-params.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const MODEL = arg('--model', 'fortunes-gpt');
const REPOSITORY = arg('--repository', `${ROOT}models`);
const TEXT = arg('--text', '/usr/share/games/fortunes/tang300');
const REQUESTS = Number(arg('--requests', '300'));
const ROUNDS = Number(arg('--rounds', '2'));
const OUT = arg('--out', `${ROOT}bench/text/RESULTS.md`);
const SLO = { ttftMs: Number(arg('--slo-ttft-ms', '1000')), tpotMs: Number(arg('--slo-tpot-ms', '100')) };
const MAX_ACTIVE = Number(arg('--max-active', '0'));
const INSTANCES = Number(arg('--instances', '1'));
const THREADS = Number(arg('--threads', '1'));
const KV_TOKENS = Number(arg('--kv-tokens', '0'));
/** Continuous batching's step token budget and prompt chunk (0: the model's config.json). */
const STEP_TOKENS = Number(arg('--step-tokens', '0'));
const PREFILL_CHUNK = Number(arg('--prefill-chunk', '0'));
/** Sampling of every request (seeded per request): greedy by default. */
const TEMPERATURE = Number(arg('--temperature', '0'));
const TOP_P = Number(arg('--top-p', '1'));
/** Max batch (continuous: most active sequences) and KV-cache budget in tokens; 0 takes the model's. */
interface Limits {
  maxActive: number;
  kvTokens: number;
}
const SWEEP: Limits[] = arg('--sweep', '16:4096,32:8192')
  .split(',')
  .filter(Boolean)
  .map((p) => {
    const [maxActive, kvTokens] = p.split(':').map(Number);
    return { maxActive: maxActive!, kvTokens: kvTokens! };
  });

/** Deterministic PRNG so every mode replays the same trace. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Job {
  at: number;
  prompt: string;
  maxTokens: number;
}

/** Prompts from the poems the model knows: 80% short (4-24 chars), 20% long (3/8 to 5/8 of the context). */
function trace(rate: number, n: number, context: number): Job[] {
  const text = readFileSync(TEXT, 'utf8').replace(/\x1b\[[0-9;]*m|%\n/g, '');
  const r = rng(7);
  let t = 0;
  return Array.from({ length: n }, () => {
    t += -Math.log(1 - r()) / rate * 1000;
    const long = r() < 0.2;
    const len = long ? Math.floor(context * (0.375 + r() * 0.25)) : 4 + Math.floor(r() * 20);
    const start = Math.floor(r() * (text.length - len));
    // Output lengths: mostly short answers, a long tail (8-24 or 64-128).
    const maxTokens = r() < 0.7 ? 8 + Math.floor(r() * 16) : 64 + Math.floor(r() * 64);
    return { at: t, prompt: text.slice(start, start + len), maxTokens };
  });
}

interface Outcome {
  computeMs: number;
  ttft: number;
  tpot: number;
  tokens: number;
  end: number;
}

interface Run {
  outcomes: Outcome[];
  seconds: number;
  stats: DecoderStats;
}

async function runMode(mode: BatchingMode, jobs: Job[], limits: Limits = { maxActive: MAX_ACTIVE, kvTokens: KV_TOKENS }): Promise<Run> {
  const spec = readModelSpec(REPOSITORY, MODEL);
  // Every request is served however long the queue: the bench measures throughput, not shedding.
  spec.serving.batching.queuePolicies = spec.serving.batching.queuePolicies.map((p) => ({ ...p, maxQueueSize: 1_000_000 }));
  const g = await openGenerator(spec, { batching: mode, instances: INSTANCES, intraOpThreads: THREADS, scheduler: { maxActive: limits.maxActive, kvCacheTokens: limits.kvTokens, maxStepTokens: STEP_TOKENS, prefillChunk: PREFILL_CHUNK }, maxQueueDelayMs: 5 });
  const tokenLimits = { defaultMaxTokens: 16, maxTokensLimit: 1024 };
  const start = performance.now();
  const outcomes = await Promise.all(
    jobs.map(async (job, k) => {
      await new Promise((r) => setTimeout(r, Math.max(0, start + job.at - performance.now())));
      const arrived = start + job.at;
      const sampling = { temperature: TEMPERATURE, topP: TOP_P, seed: k + 1 };
      const settings = resolveSampling({ maxTokens: job.maxTokens, ...sampling, ignoreEos: true, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [] }, tokenLimits);
      const seq = g.generator.prepare(job.prompt, settings, 2);
      let first = 0;
      const counted = () => {
        if (first === 0 && seq.generatedIds.length > 0) first = performance.now();
      };
      for await (const _ of g.generator.stream(seq)) counted();
      counted();
      const end = performance.now();
      const n = seq.generatedIds.length;
      return { computeMs: seq.computeMs, ttft: first - arrived, tpot: n > 1 ? (end - first) / (n - 1) : 0, tokens: n, end: end - start } satisfies Outcome;
    }),
  );
  const seconds = Math.max(...outcomes.map((o) => o.end)) / 1000;
  const stats = { ...g.model.stats };
  await g.close();
  return { outcomes, seconds, stats };
}

/** One request alone, to size the load: requests/s of one-at-a-time serving for the trace's mix. */
async function capacity(jobs: Job[]): Promise<number> {
  const sample = jobs.slice(0, 12);
  const { seconds } = await runMode('none', sample.map((j) => ({ ...j, at: 0 })));
  return sample.length / seconds;
}

const BREAKDOWN = ['steps', 'passes', 'rows per pass', 'attended positions per row', 'session.run (prefill)', 'prefill positions (padding)', 'cache (MB copied)', 'worker other (sampling)', 'worker idle'];

/** A run's time split (see the table in the results), as table cells. */
function breakdown(seconds: number, st: DecoderStats): string[] {
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const idle = seconds * 1000 - st.workerMs;
  return [
    `${st.steps}`,
    `${st.passes}`,
    (st.rows / st.passes).toFixed(1),
    (st.attendedSlots / st.rows).toFixed(0),
    `${s(st.sessionMs)} (${s(st.prefillSessionMs)})`,
    `${st.prefillPositions} (${(100 * (1 - st.prefillTokens / Math.max(1, st.prefillPositions))).toFixed(0)}%)`,
    `${s(st.cacheMs)} (${((st.copiedFloats * 4) / 2 ** 20).toFixed(0)})`,
    `${s(st.workerOtherMs)} (${s(st.sampleMs)})`,
    // With several sessions the worker columns add up time spent in parallel: no remainder.
    INSTANCES === 1 ? s(idle) : '-',
  ];
}

/** Field by field sums of two objects of counters. */
const addStats = <T extends object>(a: T, b: T): T =>
  Object.fromEntries(Object.entries(a).map(([k, v]) => [k, typeof v === 'number' ? v + (b[k as keyof T] as number) : v])) as T;

const pct = (values: number[], p: number) => {
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main() {
  const requested = Number(arg('--rate', '0'));
  const load = Number(arg('--load', '6'));
  const spec = readModelSpec(REPOSITORY, MODEL);
  const context = spec.contextLength;
  const configured: Limits = { maxActive: MAX_ACTIVE || spec.scheduler.maxActive, kvTokens: KV_TOKENS || spec.scheduler.kvCacheTokens };
  const probe = trace(1, REQUESTS, context);
  const oneAtATime = await capacity(probe);
  const rate = requested > 0 ? requested : load * oneAtATime;
  const jobs = trace(rate, REQUESTS, context);
  const modes = arg('--modes', 'continuous,request,none').split(',') as BatchingMode[];
  const results = new Map<BatchingMode, Run[]>();
  const swept = SWEEP.map(() => new Map<BatchingMode, Run[]>());
  const pair = (['continuous', 'request'] as BatchingMode[]).filter((m) => modes.includes(m));
  const started = Date.now();
  const loadBefore = loadavg();
  for (let round = 0; round < ROUNDS; round++) {
    const order = <T,>(xs: T[]) => (round % 2 === 0 ? xs : [...xs].reverse());
    for (const mode of order(modes)) {
      const r = await runMode(mode, jobs, configured);
      const cells = breakdown(r.seconds, r.stats);
      console.log(`round ${round + 1} ${mode}: ${r.seconds.toFixed(1)} s; ${BREAKDOWN.map((h, i) => `${h} ${cells[i]}`).join(', ')}`);
      results.set(mode, [...(results.get(mode) ?? []), r]);
    }
    for (const [k, limits] of SWEEP.entries()) {
      for (const mode of order(pair)) {
        const r = await runMode(mode, jobs, limits);
        console.log(`round ${round + 1} ${mode} at max ${limits.maxActive}, KV ${limits.kvTokens}: ${r.seconds.toFixed(1)} s`);
        swept[k]!.set(mode, [...(swept[k]!.get(mode) ?? []), r]);
      }
    }
  }
  const summary = (mode: BatchingMode, runs: Run[]) => {
    const outcomes = runs.flatMap((r) => r.outcomes);
    const seconds = runs.reduce((n, r) => n + r.seconds, 0);
    const tokens = outcomes.reduce((n, o) => n + o.tokens, 0);
    const good = outcomes.filter((o) => o.ttft <= SLO.ttftMs && o.tpot <= SLO.tpotMs).length;
    return {
      mode, tokensPerS: tokens / seconds, ttft50: pct(outcomes.map((o) => o.ttft), 50), ttft95: pct(outcomes.map((o) => o.ttft), 95),
      tpot50: pct(outcomes.map((o) => o.tpot), 50), tpot95: pct(outcomes.map((o) => o.tpot), 95), goodput: good / seconds, goodFraction: good / outcomes.length,
    };
  };
  const rows = modes.map((mode) => summary(mode, results.get(mode)!));
  const loadAfter = loadavg();
  const byMode = Object.fromEntries(rows.map((r) => [r.mode, r]));
  const times = modes.map((mode) => {
    const runs = results.get(mode)!;
    const seconds = runs.reduce((n, r) => n + r.seconds, 0);
    const total = runs.map((r) => r.stats).reduce((a, b) => ({ ...addStats(a, b), sampledFrom: a.sampledFrom && addStats(a.sampledFrom, b.sampledFrom) }));
    return `| ${mode} | ${seconds.toFixed(1)} | ${breakdown(seconds, total).join(' | ')} |`;
  });
  const f = (v: number, d = 0) => v.toFixed(d);
  const table = rows.map((r) => `| ${r.mode} | ${f(r.tokensPerS)} | ${f(r.ttft50)} | ${f(r.ttft95)} | ${f(r.tpot50, 1)} | ${f(r.tpot95, 1)} | ${f(r.goodput, 2)} (${f(100 * r.goodFraction)}%) |`);
  const ratio = byMode.continuous && byMode.request ? byMode.continuous.tokensPerS / byMode.request.tokensPerS : NaN;
  // Continuous against request-level at each max batch and KV budget, the main run's among them.
  const sweepRows = [...SWEEP.map((limits, k) => ({ limits, runs: swept[k]! })), { limits: configured, runs: results }]
    .filter(({ runs }) => pair.every((m) => runs.has(m)) && pair.length === 2)
    .sort((a, b) => a.limits.maxActive - b.limits.maxActive)
    .map(({ limits, runs }) => {
      const c = summary('continuous', runs.get('continuous')!);
      const q = summary('request', runs.get('request')!);
      return `| ${limits.maxActive} | ${limits.kvTokens} | ${f(c.tokensPerS)} | ${f(q.tokensPerS)} | ${f(c.tokensPerS / q.tokensPerS, 2)}x | ${f(c.ttft95)} | ${f(q.ttft95)} |`;
    });
  const promptLens = jobs.map((j) => j.prompt.length);
  const outLens = jobs.map((j) => j.maxTokens);
  const node = process.version;
  const cpu = cpus()[0]?.model ?? 'unknown';
  const nproc = execSync('nproc').toString().trim();
  const md = `# Text generation benchmark

Command: \`npx tsx bench/text/run.ts${args.length ? ' ' + args.join(' ') : ''}\` (from the repository root).
Machine: nproc ${nproc}, CPU ${cpu}, Node ${node}, onnxruntime-node 1.30.0; load average ${loadBefore.map((l) => l.toFixed(2)).join(', ')} before the modes ran, ${loadAfter.map((l) => l.toFixed(2)).join(', ')} after (about 1-1.6 is this benchmark alone; more means other work shared the machine). Whole run: ${Math.round((Date.now() - started) / 1000)} s.

Model: \`models/${MODEL}\` in ${INSTANCES} worker-thread session(s) (${THREADS} intra-op thread${THREADS === 1 ? '' : 's'} each), the same for every mode. \`ignore_eos\` and ${TEMPERATURE === 0 ? 'greedy decoding' : `sampling at temperature ${TEMPERATURE}${TOP_P < 1 ? `, top_p ${TOP_P}` : ''} (seeded per request)`}: every request generates exactly its max_tokens.
Trace: ${REQUESTS} requests, Poisson arrivals at ${f(rate, 2)}/s (${requested > 0 ? 'given' : `${load}x the measured one-at-a-time capacity of ${f(oneAtATime, 2)}/s`}), replayed identically for each mode, ${ROUNDS} rounds (mode order alternates to cancel drift). Queues are unbounded (no request is shed), so output tokens/s is what a mode sustains under this load.
Prompts (${TEXT.split('/').pop()}): 80% short (4-24 characters), 20% long (3/8-5/8 of the ${context}-token context); median ${pct(promptLens, 50)}, p95 ${pct(promptLens, 95)}. Outputs: 70% 8-23 tokens, 30% 64-127 (capped by the context); median ${pct(outLens, 50)}, p95 ${pct(outLens, 95)}.
Modes: continuous = ContinuousBatcher (max ${configured.maxActive} active, admitted while their prompt + max_tokens fit the KV budget of ${configured.kvTokens} tokens; step budget and prefill chunk from the model's config.json); request = RequestBatcher (DynamicBatcher, max batch ${configured.maxActive}, a batch formed in arrival order while rows x its longest prompt + max_tokens fits the same KV budget, 5 ms max queue delay; a batch runs to its longest member, finished rows leave it); none = one request at a time.
TTFT is from a request's scheduled arrival to its first generated token; TPOT is (last token - first token) / (tokens - 1). SLO: TTFT <= ${SLO.ttftMs} ms and TPOT <= ${SLO.tpotMs} ms; goodput = requests meeting it per second of run.

| mode | output tokens/s | TTFT p50 ms | TTFT p95 ms | TPOT p50 ms | TPOT p95 ms | goodput req/s (met SLO) |
| --- | --- | --- | --- | --- | --- | --- |
${table.join('\n')}

Continuous vs request-level: ${f(ratio, 2)}x output tokens/s, TTFT p95 ${f(byMode.continuous?.ttft95 ?? NaN)} vs ${f(byMode.request?.ttft95 ?? NaN)} ms.
${sweepRows.length > 1 ? `
By max batch and KV budget (the same for both modes; the same trace, interleaved in the same rounds):

| max batch | KV budget (tokens) | continuous tokens/s | request tokens/s | ratio | TTFT p95 continuous ms | TTFT p95 request ms |
| --- | --- | --- | --- | --- | --- | --- |
${sweepRows.join('\n')}
` : ''}
Where the time went, all rounds (seconds, except counts). session.run is the worker's \`session.run\` (the part in prefill passes in brackets); prefill positions are the positions prefill passes computed (rows x the pass's widest prompt chunk; in brackets the share that was padding); cache is the worker's KV-cache work (rows moved between passes' blocks, blocks re-laid when their capacity changes, new keys and values appended; in brackets the MB those moves and re-layouts copied); worker other is the rest of the worker's step (feeds, logits rows, and sampling, in brackets); worker idle is the rest of the run, when the worker had no step to run: waiting for arrivals, or for the main thread (scheduling, detokenizing, streams) and the message between threads. Steps are pipelined (the next is sent before the last is read), so the main thread's work overlaps the worker's.

| mode | run | ${BREAKDOWN.join(' | ')} |
| --- | --- | ${BREAKDOWN.map(() => '---').join(' | ')} |
${times.join('\n')}
`;
  writeFileSync(OUT, md);
  console.log(md);
}

await main();
