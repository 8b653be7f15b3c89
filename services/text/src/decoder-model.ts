/**
 * Batched forward passes of a decoder-only ONNX model with a KV cache. The caches and samplers
 * live in the executor's worker threads beside the sessions (decoder-worker.ts, kv-cache.ts): a
 * step sends each row's cache id and new tokens, one message per worker for all of the step's
 * passes, and gets back the token sampled after each row's last new token. A decode row may send
 * no token (the worker feeds the one it sampled last), so a loop can send step k+1 before it reads
 * step k (`pipeline`): the worker then starts it the moment step k ends. A sequence's cache stays
 * on the worker (instance) that first ran it: the one with the fewest caches then.
 */
import { fileURLToPath } from 'node:url';
import { ServiceError, Status } from '@aigc/runtime';
import type { OnnxExecutor } from '@aigc/serving';
import { DECODER_STEP, type DecoderGraphMode, type DecoderStepReply, type DecoderStepRequest, type PassRowRequest, type SampledFrom, type SamplerInit } from './decoder-protocol.js';
import { cacheGeometryOf, type CacheGeometry } from './kv-cache.js';
import type { SampledToken } from './token-sampler.js';

/** The worker extension to open a decoder's executor with (source or compiled, like this file). */
export const DECODER_EXTENSION = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './decoder-worker.ts' : './decoder-worker.js', import.meta.url));

/** A sequence's handle on its cache in a worker. */
export interface SequenceCache {
  readonly id: number;
  /** The executor instance holding it; -1 until its first pass. */
  instance: number;
  /** The instance its first pass must go to (a batcher serving one instance); else the one with fewest caches. */
  readonly home?: number;
  /** Positions cached once every step sent so far has run. */
  length: number;
  /** Freed in the worker ahead of the sequence's end ({@link DecoderModel.retire}). */
  retired?: boolean;
}

/** One sequence's share of a pass. */
export interface StepRow {
  cache: SequenceCache;
  /** New tokens to process (at least one); absent: the token the worker sampled for it last. */
  tokens?: readonly number[];
  /** Sample a token after the row's last new token. */
  sample?: boolean;
  /** The sequence's sampler settings: needed with the first row that samples. */
  sampler?: SamplerInit;
}

/** Options of one {@link DecoderModel.step}. */
export interface StepOptions {
  /** Rejects when it fires before a worker takes the step. */
  signal?: AbortSignal;
  /** Also return each row's logits. */
  logits?: boolean;
  /** Hand the step to its worker even while an earlier pipelined step runs there. */
  pipeline?: boolean;
}

/** The result of one step: per pass, per row, the token sampled (null where the row did not sample). */
export interface StepResult {
  sampled: (SampledToken | null)[][];
  /** Per pass, per row, logits after the row's last new token (only with `logits`). */
  logits: Float32Array[][];
  /** Per pass: milliseconds of `session.run`. */
  computeMs: number[];
}

/** Running totals of where step time went, for bench/text. */
export interface DecoderStats {
  steps: number;
  passes: number;
  /** Milliseconds in `session.run`, and the part of it in prefill passes (more than one new token per row). */
  sessionMs: number;
  prefillSessionMs: number;
  prefillPasses: number;
  /** Prompt tokens prefill passes fed, and the positions they computed (rows x the pass's widest chunk). */
  prefillTokens: number;
  prefillPositions: number;
  /** Milliseconds the worker spent on the cache (row moves, re-layouts, appending new keys and values). */
  cacheMs: number;
  /** Milliseconds in the worker outside both (feeds, logits rows, sampling). */
  workerOtherMs: number;
  /** The part of it spent sampling. */
  sampleMs: number;
  /** Milliseconds workers were busy with steps (the sum of the parts above). */
  workerMs: number;
  /** Milliseconds from sending a step to its reply, less the worker's time: messaging and queueing. */
  transferMs: number;
  /** The part of it before the worker started the step (sending, waking the worker). */
  inboundMs: number;
  /** Sum over passes of rows x attended positions (the block capacity), and of rows. */
  attendedSlots: number;
  rows: number;
  /** Floats the workers' cache stores copied (row moves and re-layouts). */
  copiedFloats: number;
  /** Sampled rows by what they were sampled from (the graph's argmax or probabilities, or the logits). */
  sampledFrom: SampledFrom;
}

/** Runs steps of a decoder-only model; see the module comment. */
export class DecoderModel {
  readonly geometry: CacheGeometry;
  readonly stats: DecoderStats = { steps: 0, passes: 0, sessionMs: 0, prefillSessionMs: 0, prefillPasses: 0, prefillTokens: 0, prefillPositions: 0, cacheMs: 0, workerOtherMs: 0, sampleMs: 0, workerMs: 0, transferMs: 0, inboundMs: 0, attendedSlots: 0, rows: 0, copiedFloats: 0, sampledFrom: { argmax: 0, probs: 0, logits: 0 } };
  private nextId = 1;
  /** Live caches per instance (to place new sequences) and ids to free on each. */
  private readonly live: number[];
  private readonly released: number[][];
  private readonly copied: number[];
  /** How the workers' graph gives new keys and values; known after the first step. */
  graph: DecoderGraphMode | undefined;
  /** Steps each instance has run (a step that touched two instances counts on both). */
  readonly stepsPerInstance: number[];
  private releaseTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly executor: OnnxExecutor,
    readonly name: string,
  ) {
    const geometry = cacheGeometryOf(executor.inputs);
    const names = new Set(executor.inputs.map((i) => i.name));
    // position_ids is optional: exports without it derive positions from the attention mask.
    const missing = ['input_ids', 'attention_mask'].filter((n) => !names.has(n));
    if (!geometry || missing.length > 0) {
      throw new ServiceError(
        Status.FAILED_PRECONDITION,
        `model ${name} is not a decoder with a KV cache: it needs inputs input_ids, attention_mask (position_ids optional) and past_key_values.N.key/value with numeric head dims${missing.length ? ` (missing ${missing.join(', ')})` : ''}`,
      );
    }
    this.geometry = geometry;
    this.live = Array.from({ length: executor.instanceCount }, () => 0);
    this.released = Array.from({ length: executor.instanceCount }, () => []);
    this.copied = Array.from({ length: executor.instanceCount }, () => 0);
    this.stepsPerInstance = Array.from({ length: executor.instanceCount }, () => 0);
  }

  /** A handle for a new sequence's cache (empty until its first pass), on instance `home` if given. */
  createCache(home?: number): SequenceCache {
    if (home !== undefined && !(home >= 0 && home < this.live.length)) throw new RangeError(`instance ${home} of ${this.name} does not exist`);
    return { id: this.nextId++, instance: -1, length: 0, home };
  }

  /** Frees a sequence's cache; the worker drops it before its next step. */
  release(cache: SequenceCache | undefined): void {
    if (!cache || cache.instance < 0) return;
    this.retire(cache);
    cache.instance = -1;
    cache.length = 0;
  }

  /**
   * Frees a cache in its worker with the next step sent, while this side still reads the steps
   * already in flight for it: for a sequence whose every pass has been sent (its last token is in
   * flight). Its row then leaves the worker's block before the next pass, instead of sitting
   * among that pass's rows (which would have to be moved past it).
   */
  retire(cache: SequenceCache): void {
    if (cache.retired || cache.instance < 0) return;
    cache.retired = true;
    this.live[cache.instance]!--;
    this.released[cache.instance]!.push(cache.id);
    // Normally the next step carries it; when none comes soon, a step with no passes does.
    this.releaseTimer ??= setTimeout(() => {
      this.releaseTimer = undefined;
      this.released.forEach((ids, instance) => {
        if (ids.length > 0) void this.call(instance, []).catch(() => undefined);
      });
    }, 50).unref();
  }

  /** Sequences holding a cache (released ones excluded, even before their worker has dropped them). */
  get liveCaches(): number {
    return this.live.reduce((n, c) => n + c, 0);
  }

  /** Sends pending releases now; resolves with the caches the workers still hold. */
  async flush(): Promise<number> {
    const replies = await Promise.all(this.live.map((_, instance) => this.call(instance, [])));
    return replies.reduce((n, r) => n + r.cachedSequences, 0);
  }

  /**
   * Runs `passes` (each a forward pass over its rows) as one step: one message per worker, passes
   * in order. Each cache's length counts the step's tokens as soon as it is sent, so the next step
   * can be planned and sent before this one's result is read (with `pipeline`).
   */
  step(passes: readonly (readonly StepRow[])[], options: StepOptions = {}): Promise<StepResult> {
    // A new sequence goes to its home instance, else to the one with the fewest caches.
    for (const pass of passes) {
      for (const r of pass) {
        if (r.cache.instance >= 0) continue;
        r.cache.instance = r.cache.home ?? this.live.indexOf(Math.min(...this.live));
        this.live[r.cache.instance]!++;
      }
    }
    const perInstance = new Map<number, { pass: number; rows: number[] }[]>();
    passes.forEach((pass, p) => {
      pass.forEach((r, i) => {
        const list = perInstance.get(r.cache.instance) ?? [];
        perInstance.set(r.cache.instance, list);
        const last = list[list.length - 1];
        if (last?.pass === p) last.rows.push(i);
        else list.push({ pass: p, rows: [i] });
      });
    });
    const sampled = passes.map((pass) => new Array<SampledToken | null>(pass.length).fill(null));
    const logits = passes.map((pass) => new Array<Float32Array>(pass.length));
    const computeMs = passes.map(() => 0);
    const calls = [...perInstance].map(async ([instance, parts]) => {
      const requests = parts.map(({ pass, rows }) =>
        rows.map((i): PassRowRequest => {
          const r = passes[pass]![i]!;
          const row: PassRowRequest = { id: r.cache.id, cached: r.cache.length };
          if (r.tokens) row.tokens = [...r.tokens];
          if (r.sample) row.sample = true;
          if (r.sampler) row.sampler = r.sampler;
          r.cache.length += r.tokens?.length ?? 1;
          return row;
        }),
      );
      let reply: DecoderStepReply;
      try {
        reply = await this.call(instance, requests, options);
      } catch (err) {
        // Not taken: the caches hold what they held (a failed worker fails its sequences anyway).
        parts.forEach(({ pass, rows }) => {
          for (const i of rows) {
            const r = passes[pass]![i]!;
            if (r.cache.instance === instance) r.cache.length -= r.tokens?.length ?? 1;
          }
        });
        throw err;
      }
      let row = 0;
      parts.forEach(({ pass, rows }, k) => {
        computeMs[pass]! += reply.passes[k]!.sessionMs;
        for (const i of rows) {
          const id = reply.tokens[row]!;
          const detail = reply.logprobs.get(row);
          sampled[pass]![i] = id < 0 ? null : { id, logprob: detail?.logprob ?? 0, top: detail?.top ?? [] };
          if (options.logits) logits[pass]![i] = reply.logits.subarray(row * reply.vocabSize, (row + 1) * reply.vocabSize);
          row++;
        }
      });
    });
    this.stats.steps++;
    return Promise.all(calls).then(() => ({ sampled, logits, computeMs }));
  }

  private async call(instance: number, passes: PassRowRequest[][], options: StepOptions = {}): Promise<DecoderStepReply> {
    const release = this.released[instance]!.splice(0);
    const sent = performance.now();
    const request: DecoderStepRequest = { release, passes, sentAt: performance.timeOrigin + sent };
    if (options.logits) request.logits = true;
    let reply: DecoderStepReply;
    try {
      reply = (await this.executor.call<DecoderStepReply>(DECODER_STEP, request, { instance, signal: options.signal, pipeline: options.pipeline })).value;
    } catch (err) {
      // Not taken (aborted) or failed: the ids still need freeing on the next step.
      this.released[instance]!.push(...release);
      throw err;
    }
    const s = this.stats;
    this.graph = reply.graph;
    if (passes.length > 0) this.stepsPerInstance[instance]!++;
    s.transferMs += performance.now() - sent - reply.workerMs;
    s.inboundMs += reply.inboundMs;
    s.workerMs += reply.workerMs;
    s.sampleMs += reply.sampleMs;
    let inWorker = reply.workerMs;
    reply.passes.forEach((p, k) => {
      s.passes++;
      s.sessionMs += p.sessionMs;
      if (p.width > 1) {
        s.prefillSessionMs += p.sessionMs;
        s.prefillPasses++;
        s.prefillPositions += passes[k]!.length * p.width;
        for (const r of passes[k]!) s.prefillTokens += r.tokens?.length ?? 1;
      }
      s.cacheMs += p.cacheMs;
      for (const k of ['argmax', 'probs', 'logits'] as const) s.sampledFrom[k] += p.sampledFrom[k];
      s.attendedSlots += passes[k]!.length * p.capacity;
      s.rows += passes[k]!.length;
      inWorker -= p.sessionMs + p.cacheMs;
    });
    s.workerOtherMs += inWorker;
    s.copiedFloats += reply.copiedFloats - this.copied[instance]!;
    this.copied[instance] = reply.copiedFloats;
    return reply;
  }
}
