/**
 * The text service's extension of a libs/serving executor worker: it owns the KV caches and the
 * samplers of the sequences this worker serves (kv-cache.ts, token-sampler.ts) and runs decoder
 * steps beside the session. The main thread sends token ids and cache ids; back come only the
 * tokens sampled after each row's last new token. A decode row may leave its token out: it then
 * feeds the token sampled here last, which lets the main thread send the next step before it has
 * read the previous one (a pipelined call) and keeps this thread busy between steps.
 * Before the session opens, `prepareModel` rewrites the graph (decoder-graph.ts) so that a step
 * fetches each layer's new keys and values, not the presents, and attention reads the cache in
 * place instead of concatenating it; a graph it cannot rewrite runs as exported.
 */
import type ort from 'onnxruntime-node';
import { ARGMAX_OUTPUT, PROBS_OUTPUT, PROBS_ROWS_INPUT, TEMPERATURE_INPUT, prepareDecoderGraph, type DecoderGraph } from './decoder-graph.js';
import type { DecoderGraphMode, DecoderStepReply, DecoderStepRequest, PassReport, PassRowRequest } from './decoder-protocol.js';
import { cacheGeometryOf, KvCacheStore, type CacheGeometry, type PassLayout } from './kv-cache.js';
import { TokenSampler } from './token-sampler.js';

/** What one pass gives back, per request row `i` of its last new token (only what was fetched). */
interface PassOutput {
  report: PassReport;
  logits?: { vocab: number; row(i: number): Float32Array };
  argmax?: (i: number) => number;
  probs?: (i: number) => Float32Array;
}

/** A pass row with its tokens resolved. */
type Row = PassRowRequest & { tokens: number[] };

interface Context {
  session: ort.InferenceSession;
  ort: typeof ort;
}

/** What prepareModel did to this worker's model (undefined: nothing). */
let prepared: Omit<DecoderGraph, 'model'> | undefined;

/** Rewrites the graph for a cache kept here; keeps the model as it is when the graph differs. */
export function prepareModel(model: Uint8Array): Uint8Array | undefined {
  const graph = prepareDecoderGraph(model);
  if (!graph) return (prepared = undefined);
  const { model: rewritten, ...how } = graph;
  prepared = how;
  return rewritten;
}

/** Steps of one session over the caches it holds; `graph` says how the model was rewritten. */
export class WorkerDecoder {
  readonly store: KvCacheStore;
  private readonly geometry: CacheGeometry;
  private readonly pastNames: string[] = [];
  /** Per past input, the output holding its new positions: the exposed tensor or the present. */
  private readonly sourceNames: string[] = [];
  private readonly fromPresent: boolean;
  private readonly feedsPositions: boolean;
  /** The rewritten graph's argmax and probabilities outputs (and its temperature input), when it has them. */
  private readonly hasArgmax: boolean;
  private readonly hasProbs: boolean;
  private readonly vocabSize: number | undefined;
  private readonly mode: DecoderGraphMode;
  /** Per sequence: its sampler, and the last token it sampled (the input of its next decode row). */
  private readonly samplers = new Map<number, TokenSampler>();
  private readonly lastSampled = new Map<number, number>();

  constructor(
    private readonly session: ort.InferenceSession,
    graph: Omit<DecoderGraph, 'model'> | undefined,
  ) {
    const newKv = graph?.newKv;
    const inputs = session.inputMetadata.map((m) => ({ name: m.name, dims: m.isTensor ? m.shape : [] }));
    const geometry = cacheGeometryOf(inputs);
    if (!geometry) throw new Error('the model has no past_key_values.N.key/value inputs');
    this.geometry = geometry;
    this.feedsPositions = inputs.some((i) => i.name === 'position_ids');
    const outputs = new Set(session.outputNames);
    this.fromPresent = !newKv || [...newKv.values()].some((n) => !outputs.has(n));
    this.mode = this.fromPresent ? 'presents' : graph?.concatFree ? 'concat-free' : 'new-kv';
    for (let l = 0; l < geometry.layers; l++) {
      for (const kind of ['key', 'value']) {
        const past = `past_key_values.${l}.${kind}`;
        this.pastNames.push(past);
        this.sourceNames.push(this.fromPresent ? `present.${l}.${kind}` : newKv!.get(past)!);
      }
    }
    this.hasArgmax = graph?.argmax === true && outputs.has(ARGMAX_OUTPUT);
    this.hasProbs = graph?.probs === true && outputs.has(PROBS_OUTPUT) && session.inputNames.includes(PROBS_ROWS_INPUT) && session.inputNames.includes(TEMPERATURE_INPUT);
    const logits = session.outputMetadata.find((m) => m.name === 'logits');
    if (!logits?.isTensor) throw new Error('the model has no logits output');
    const vocab = logits.shape[logits.shape.length - 1];
    this.vocabSize = typeof vocab === 'number' ? vocab : undefined;
    this.store = new KvCacheStore(geometry);
  }

  async step(request: DecoderStepRequest, ortApi: typeof ort): Promise<{ reply: DecoderStepReply; transfer: ArrayBuffer[] }> {
    const started = performance.now();
    const startedAt = performance.timeOrigin + started;
    for (const id of request.release) {
      this.store.release(id);
      this.samplers.delete(id);
      this.lastSampled.delete(id);
    }
    const rows = request.passes.reduce((n, p) => n + p.length, 0);
    // Each row's last-position logits go back only when asked for; sampling reads the session's output.
    let returned: Float32Array | undefined;
    let vocabSize = this.vocabSize ?? 0;
    const tokens = new Int32Array(rows).fill(-1);
    const logprobs: DecoderStepReply['logprobs'] = new Map();
    let at = 0;
    let sampleMs = 0;
    const reports: PassReport[] = [];
    for (const pass of request.passes) {
      const resolved = pass.map((r) => this.resolve(r));
      const samplers = resolved.map((r) => {
        if (!r.sample) return undefined;
        const sampler = this.samplers.get(r.id);
        if (!sampler) throw new Error(`sequence ${r.id} has no sampler on this worker`);
        return sampler;
      });
      // What the pass fetches: greedy rows with nothing else to apply need only the graph's argmax
      // (or the logits, when fetched anyway: the same token); plain sampled rows always draw from
      // the graph's probabilities, so their tokens do not depend on what shares the pass; the rest
      // need the logits.
      const fromProbs = (s: TokenSampler | undefined) => s !== undefined && this.hasProbs && s.plainSampling;
      const needLogits = request.logits === true || samplers.some((s) => s && !fromProbs(s) && !(this.hasArgmax && s.plainGreedy));
      const fetch = { logits: needLogits, argmax: !needLogits && samplers.some((s) => s?.plainGreedy) };
      const temperatures = samplers.map((s) => (fromProbs(s) ? s!.temperature : undefined));
      const { report, logits, argmax, probs } = await this.pass(resolved, ortApi, fetch, temperatures);
      reports.push(report);
      if (logits) vocabSize = logits.vocab;
      if (request.logits && logits) {
        returned ??= new Float32Array(rows * vocabSize);
        resolved.forEach((_, i) => returned!.set(logits.row(i), (at + i) * vocabSize));
      }
      const sampleStarted = performance.now();
      resolved.forEach((r, i) => {
        const sampler = samplers[i];
        if (!sampler) return;
        // Penalties work in place: on the copy when the logits go back as the model gave them.
        const source = fromProbs(sampler) ? 'probs' : argmax && sampler.plainGreedy ? 'argmax' : 'logits';
        report.sampledFrom[source]++;
        const picked =
          source === 'probs'
            ? sampler.sampleProbs(probs!(i))
            : source === 'argmax'
              ? sampler.take(argmax!(i))
              : sampler.sample(returned ? returned.slice((at + i) * vocabSize, (at + i + 1) * vocabSize) : logits!.row(i));
        tokens[at + i] = picked.id;
        if (sampler.reportsLogprobs) logprobs.set(at + i, { logprob: picked.logprob, top: picked.top });
        this.lastSampled.set(r.id, picked.id);
      });
      sampleMs += performance.now() - sampleStarted;
      at += pass.length;
    }
    returned ??= new Float32Array(0);
    const reply: DecoderStepReply = {
      tokens,
      logprobs,
      logits: returned,
      vocabSize,
      sampleMs,
      passes: reports,
      workerMs: performance.now() - started,
      startedAt,
      inboundMs: request.sentAt === undefined ? 0 : startedAt - request.sentAt,
      copiedFloats: this.store.stats.copiedFloats,
      cachedSequences: this.store.size,
      graph: this.mode,
    };
    const transfer = [tokens.buffer as ArrayBuffer];
    if (returned.length > 0) transfer.push(returned.buffer as ArrayBuffer);
    return { reply, transfer };
  }

  /** A row with its tokens (the last sampled one where it sent none), its sampler registered. */
  private resolve(r: PassRowRequest): Row {
    if (r.sampler) this.samplers.set(r.id, new TokenSampler(r.sampler.settings, r.sampler.promptIds));
    if (r.tokens) return r as Row;
    const last = this.lastSampled.get(r.id);
    if (last === undefined) throw new Error(`sequence ${r.id} sent no tokens and has sampled none on this worker`);
    return { ...r, tokens: [last] };
  }

  /**
   * One forward pass, and per request row what `fetch` asks for of its last token: the logits
   * (views of the session's output), their argmax; and softmax(logits / `temperatures[i]`) for the
   * rows that have a temperature.
   */
  private async pass(rows: Row[], ortApi: typeof ort, fetch: { logits: boolean; argmax: boolean }, temperatures: (number | undefined)[]): Promise<PassOutput> {
    const { kvHeads: H, headDim: D } = this.geometry;
    const cacheStarted = performance.now();
    for (const r of rows) {
      const have = this.store.lengthOf(r.id);
      if (have !== r.cached) throw new Error(`cache of sequence ${r.id} holds ${have} positions, expected ${r.cached} (worker restarted?)`);
      if (r.tokens.length === 0) throw new Error(`sequence ${r.id} has no new tokens`);
    }
    const layout: PassLayout = this.store.layout(
      rows.map((r) => r.id),
      rows.map((r) => r.tokens.length),
    );
    let cacheMs = performance.now() - cacheStarted;
    const B = rows.length;
    const T = Math.max(...rows.map((r) => r.tokens.length));
    const cap = layout.block.capacity;
    const ids = new BigInt64Array(B * T);
    const positions = new BigInt64Array(B * T);
    const mask = new BigInt64Array(B * (cap + T));
    const tokensPerRow: number[] = [];
    layout.order.forEach((i, b) => {
      const r = rows[i]!;
      const n = layout.lengths[b]!;
      const t = r.tokens.length;
      tokensPerRow.push(t);
      // A row shorter than the pass is padded with its last token at its last position, the padding
      // masked as keys: the pass's last position then computes exactly what the row's last token
      // does, which a graph giving only the last position's logits relies on (decoder-graph.ts).
      for (let j = 0; j < T; j++) {
        ids[b * T + j] = BigInt(r.tokens[Math.min(j, t - 1)]!);
        positions[b * T + j] = BigInt(n + Math.min(j, t - 1));
      }
      mask.fill(1n, b * (cap + T), b * (cap + T) + n);
      mask.fill(1n, b * (cap + T) + cap, b * (cap + T) + cap + t);
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ortApi.Tensor('int64', ids, [B, T]),
      attention_mask: new ortApi.Tensor('int64', mask, [B, cap + T]),
    };
    if (this.feedsPositions) feeds.position_ids = new ortApi.Tensor('int64', positions, [B, T]);
    const pastSize = B * H * cap * D;
    this.pastNames.forEach((name, k) => {
      feeds[name] = new ortApi.Tensor('float32', layout.block.data[k]!.subarray(0, pastSize), [B, H, cap, D]);
    });
    const runStarted = performance.now();
    // Rows wanting probabilities: their block rows and temperatures, and each one's index among them.
    const probsAt = new Map<number, number>();
    const probsRows: bigint[] = [];
    const probsTemperatures: number[] = [];
    layout.order.forEach((i, b) => {
      const t = temperatures[i];
      if (t === undefined) return;
      probsAt.set(i, probsRows.length);
      probsRows.push(BigInt(b));
      probsTemperatures.push(t);
    });
    if (this.hasProbs) {
      feeds[PROBS_ROWS_INPUT] = new ortApi.Tensor('int64', BigInt64Array.from(probsRows), [probsRows.length]);
      feeds[TEMPERATURE_INPUT] = new ortApi.Tensor('float32', Float32Array.from(probsTemperatures), [probsRows.length, 1, 1]);
    }
    const fetches = [...this.sourceNames];
    if (fetch.logits) fetches.push('logits');
    if (fetch.argmax) fetches.push(ARGMAX_OUTPUT);
    if (probsRows.length > 0) fetches.push(PROBS_OUTPUT);
    const out = await this.session.run(feeds, fetches);
    const sessionMs = performance.now() - runStarted;

    const appendStarted = performance.now();
    const sources = this.sourceNames.map((n) => out[n]!.data as Float32Array);
    this.store.append(layout, sources, this.fromPresent ? cap + T : T, this.fromPresent ? cap : 0, tokensPerRow);
    cacheMs += performance.now() - appendStarted;
    const report: PassReport = { sessionMs, cacheMs, capacity: cap, width: T, sampledFrom: { argmax: 0, probs: 0, logits: 0 } };
    // Block row b holds request row order[b]; its last new position is the output's last, or
    // (a graph that gives every position) its own last token's.
    const blockRow = new Array<number>(rows.length);
    layout.order.forEach((i, b) => (blockRow[i] = b));
    // Row i's entry in an output of `positions` per row, whose rows are block rows (or the given one).
    const entry = (i: number, positions: number, row = blockRow[i]!) => row * positions + (positions === 1 ? 0 : tokensPerRow[blockRow[i]!]! - 1);
    // Row i's vocabulary-wide slice of output `name` (with `at`, an output of the rows it names).
    const rowOf = (name: string, at?: Map<number, number>) => {
      const t = out[name]!;
      const V = t.dims[2]!;
      const data = t.data as Float32Array;
      return (i: number) => {
        const from = entry(i, t.dims[1]!, at?.get(i)) * V;
        return data.subarray(from, from + V);
      };
    };
    const result: PassOutput = { report };
    if (fetch.argmax) {
      const ids = out[ARGMAX_OUTPUT]!;
      const data = ids.data as BigInt64Array;
      result.argmax = (i) => Number(data[entry(i, ids.dims[1]!)]!);
    }
    if (probsRows.length > 0) result.probs = rowOf(PROBS_OUTPUT, probsAt);
    if (fetch.logits) {
      const V = out.logits!.dims[2]!;
      if (this.vocabSize !== undefined && V !== this.vocabSize) throw new Error(`logits have ${V} columns, the graph declares ${this.vocabSize}`);
      result.logits = { vocab: V, row: rowOf('logits') };
    }
    return result;
  }
}

let decoder: WorkerDecoder | undefined;

/** Handlers reached through `OnnxExecutor.call`. */
export const handlers = {
  async 'decoder.step'(args: unknown, context: Context) {
    decoder ??= new WorkerDecoder(context.session, prepared);
    const { reply, transfer } = await decoder.step(args as DecoderStepRequest, context.ort);
    return { value: reply, transfer, computeMs: reply.passes.reduce((n, p) => n + p.sessionMs, 0) };
  },
};
