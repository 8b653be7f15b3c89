// Runs the exported voice (and the bare Griffin-Lim graph on the teacher's mels) in onnxruntime-node
// for evaluate.py: reads data/eval.json and data/eval-mels.bin, writes data/eval-{audio,gl}.bin and
// their lengths. One row per call; the service's own specs check that batching changes nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const data = process.env.VOICE_DATA ?? join(here, 'data');
const ort = createRequire(join(here, '../../libs/serving/package.json'))('onnxruntime-node');
const spec = JSON.parse(readFileSync(join(data, 'eval.json'), 'utf8'));
const inference = JSON.parse(readFileSync(`${spec.model}.json`, 'utf8')).inference; // the voice's defaults
const options = { intraOpNumThreads: 1, interOpNumThreads: 1 };
const voice = await ort.InferenceSession.create(spec.model, options);
const vocoder = await ort.InferenceSession.create(spec.vocoder, options);
const melBuf = readFileSync(join(data, 'eval-mels.bin'));
const mels = new Float32Array(melBuf.buffer, melBuf.byteOffset, melBuf.byteLength / 4);
const audio = [], lengths = [], gl = [], glLengths = [];
let at = 0;
for (const row of spec.rows) {
  const out = await voice.run({
    input: new ort.Tensor('int64', BigInt64Array.from(row.ids.map(BigInt)), [1, row.ids.length]),
    input_lengths: new ort.Tensor('int64', BigInt64Array.from([BigInt(row.ids.length)]), [1]),
    scales: new ort.Tensor('float32', Float32Array.from([inference.noise_scale, inference.length_scale, inference.noise_w]), [3]),
    sid: new ort.Tensor('int64', BigInt64Array.from([BigInt(row.speaker)]), [1]),
  });
  const n = Number(out.output_lengths.data[0]);
  audio.push(out.output.data.slice(0, n));
  lengths.push(n);
  const frames = mels.subarray(at * 80, (at + row.frames) * 80);
  at += row.frames;
  const r = await vocoder.run({ mel: new ort.Tensor('float32', frames, [1, row.frames, 80]), frame_mask: new ort.Tensor('float32', new Float32Array(row.frames).fill(1), [1, row.frames]) });
  gl.push(r.output.data);
  glLengths.push(r.output.data.length);
}
const cat = (parts) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
writeFileSync(join(data, 'eval-audio.bin'), cat(audio));
writeFileSync(join(data, 'eval-lengths.json'), JSON.stringify(lengths));
writeFileSync(join(data, 'eval-gl.bin'), cat(gl));
writeFileSync(join(data, 'eval-gl-lengths.json'), JSON.stringify(glLengths));
console.log('rendered', spec.rows.length, 'rows');
