// Checks an exported decoder against torch logits (fixture written by train.py): a prefill with an
// empty past, then one decode step through the KV cache. Prints {"maxAbsDiff": x}; exits 1 if > 1e-3.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [modelPath, fixturePath] = process.argv.slice(2);
const fx = JSON.parse(readFileSync(fixturePath, 'utf8'));
const session = await ort.InferenceSession.create(modelPath);
const i64 = (values, dims) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
const n = fx.ids.length;
const feeds = { input_ids: i64(fx.ids, [1, n]), attention_mask: i64(Array(n).fill(1), [1, n]), position_ids: i64([...Array(n).keys()], [1, n]) };
for (let l = 0; l < fx.layers; l++) for (const kind of ['key', 'value']) feeds[`past_key_values.${l}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [1, fx.heads, 0, fx.headDim]);
const out = await session.run(feeds);
const vocab = out.logits.dims[2];
const last = out.logits.data.slice((n - 1) * vocab, n * vocab);
const feeds2 = { input_ids: i64([fx.next], [1, 1]), attention_mask: i64(Array(n + 1).fill(1), [1, n + 1]), position_ids: i64([n], [1, 1]) };
for (let l = 0; l < fx.layers; l++) for (const kind of ['key', 'value']) feeds2[`past_key_values.${l}.${kind}`] = out[`present.${l}.${kind}`];
const out2 = await session.run(feeds2);
let maxAbsDiff = 0;
for (let i = 0; i < vocab; i++) {
  maxAbsDiff = Math.max(maxAbsDiff, Math.abs(last[i] - fx.prefillLast[i]), Math.abs(out2.logits.data[i] - fx.decode[i]));
}
console.log(JSON.stringify({ maxAbsDiff }));
process.exit(maxAbsDiff > 1e-3 ? 1 : 0);
