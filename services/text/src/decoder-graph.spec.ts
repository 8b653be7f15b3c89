import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ARGMAX_OUTPUT, PROBS_OUTPUT, PROBS_ROWS_INPUT, TEMPERATURE_INPUT, prepareDecoderGraph } from './decoder-graph.js';

const MODEL = fileURLToPath(new URL('../test/models/tiny-gpt2/1/model.onnx', import.meta.url));
const H = 2;
const D = 16;
const LAYERS = 2;

/** Feeds of one pass: `tokens` per row, after a past of `past` positions (all real). */
function feeds(tokens: number[][], past: ort.Tensor[] | undefined): Record<string, ort.Tensor> {
  const B = tokens.length;
  const T = tokens[0]!.length;
  const P = past ? past[0]!.dims[2]! : 0;
  const f: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(tokens.flat(), BigInt), [B, T]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(B * (P + T)).fill(1n), [B, P + T]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: B * T }, (_, i) => BigInt(P + (i % T))), [B, T]),
  };
  for (let l = 0; l < LAYERS; l++) {
    for (const [k, kind] of ['key', 'value'].entries()) {
      f[`past_key_values.${l}.${kind}`] = past ? past[l * 2 + k]! : new ort.Tensor('float32', new Float32Array(0), [B, H, 0, D]);
    }
  }
  return f;
}

/** Logits `[B, T, V]` cut to each row's last position, `[B, 1, V]`, as the rewritten graph gives them. */
const lastPosition = (logits: ort.Tensor) => {
  const [B, T, V] = logits.dims as [number, number, number];
  const out = new Float32Array(B * V);
  for (let b = 0; b < B; b++) out.set((logits.data as Float32Array).subarray((b * T + T - 1) * V, (b * T + T) * V), b * V);
  return new ort.Tensor('float32', out, [B, 1, V]);
};

const maxDiff = (a: ort.Tensor, b: ort.Tensor) => {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
};

describe('prepareDecoderGraph', () => {
  it('computes the same logits without presents, exposing the new keys and values, the LM head on the last position only', async () => {
    const bytes = new Uint8Array(readFileSync(MODEL));
    const prepared = prepareDecoderGraph(bytes)!;
    expect(prepared.concatFree).toBe(true);
    expect(prepared.lastLogitsOnly).toBe(true);
    expect([...prepared.newKv.keys()]).toEqual(['past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value']);
    const original = await ort.InferenceSession.create(MODEL);
    const rewritten = await ort.InferenceSession.create(prepared.model);
    expect(rewritten.outputNames.some((n) => n.startsWith('present.'))).toBe(false);
    expect(rewritten.outputNames).toEqual(expect.arrayContaining(['logits', ...prepared.newKv.values()]));

    // Prefill two rows with an empty past, then one decode step on the original's presents.
    const prompt = [
      [40, 41, 42, 43, 44],
      [50, 51, 52, 53, 54],
    ];
    // The rewritten graph also takes the rows that want probabilities, and their temperatures.
    const sampling = (rows: number[], t: number[]) => ({
      [PROBS_ROWS_INPUT]: new ort.Tensor('int64', BigInt64Array.from(rows, BigInt), [rows.length]),
      [TEMPERATURE_INPUT]: new ort.Tensor('float32', Float32Array.from(t), [t.length, 1, 1]),
    });
    const a = await original.run(feeds(prompt, undefined));
    const b = await rewritten.run({ ...feeds(prompt, undefined), ...sampling([], []) });
    expect(b.logits!.dims).toEqual([2, 1, a.logits!.dims[2]]);
    expect(maxDiff(lastPosition(a.logits!), b.logits!)).toBeLessThan(1e-5);
    const presents = [0, 1].flatMap((l) => [a[`present.${l}.key`]!, a[`present.${l}.value`]!]);
    [...prepared.newKv.values()].forEach((name, k) => expect(maxDiff(presents[k]!, b[name]!)).toBe(0));

    const a2 = await original.run(feeds([[60], [61]], presents));
    const b2 = await rewritten.run({ ...feeds([[60], [61]], presents), ...sampling([1, 0], [2, 0.5]) });
    expect(maxDiff(a2.logits!, b2.logits!)).toBeLessThan(1e-5);
    // The argmax output is each row's argmax of the logits (lowest index on ties).
    expect(prepared.argmax).toBe(true);
    const V = b2.logits!.dims[2]!;
    const rows = [0, 1].map((r) => Array.from((b2.logits!.data as Float32Array).subarray(r * V, (r + 1) * V)));
    expect(b2[ARGMAX_OUTPUT]!.dims).toEqual([2, 1]);
    expect(Array.from(b2[ARGMAX_OUTPUT]!.data as BigInt64Array, Number)).toEqual(rows.map((row) => row.indexOf(Math.max(...row))));
    // The probabilities output is softmax(logits / temperature) of the rows named, in that order,
    // each at its own temperature; none named, none computed.
    expect(prepared.probs).toBe(true);
    expect(b[PROBS_OUTPUT]!.dims).toEqual([0, 1, V]);
    expect(b2[PROBS_OUTPUT]!.dims).toEqual([2, 1, V]);
    [[1, 2], [0, 0.5]].forEach(([row, t], k) => {
      const w = rows[row!]!.map((v) => Math.exp((v - Math.max(...rows[row!]!)) / t!));
      const z = w.reduce((x, y) => x + y, 0);
      const probs = (b2[PROBS_OUTPUT]!.data as Float32Array).subarray(k * V, (k + 1) * V);
      expect(Math.max(...w.map((v, i) => Math.abs(v / z - probs[i]!)))).toBeLessThan(1e-6);
    });
    // The new key of the decode step is the last position of the original's present.
    const present = a2['present.0.key']!;
    const tail = new Float32Array(2 * H * D);
    for (let r = 0; r < 2 * H; r++) tail.set((present.data as Float32Array).subarray((r * 6 + 5) * D, (r * 6 + 6) * D), r * D);
    expect(maxDiff(new ort.Tensor('float32', tail, [2, H, 1, D]), b2[prepared.newKv.get('past_key_values.0.key')!]!)).toBe(0);
  });

  it('leaves a graph without concatenated presents alone', () => {
    const encoder = fileURLToPath(new URL('../../../libs/serving/test/models/tiny_encoder/1/model.onnx', import.meta.url));
    expect(prepareDecoderGraph(new Uint8Array(readFileSync(encoder)))).toBeUndefined();
  });
});
