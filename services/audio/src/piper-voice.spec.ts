import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Phonemizer } from './phonemizer.js';
import { phonemeIds } from './phoneme-ids.js';
import { PiperVoice, type SynthesisRow, type SynthesisScales } from './piper-voice.js';
import { defaultModelsRoot } from './voice-catalog.js';

// The default voice, a real ONNX model, in real worker threads.
const MODEL = join(defaultModelsRoot(), 'espeak-distilled', 'espeak-distilled.onnx');
let voice: PiperVoice;
const rows: SynthesisRow[] = [];
let scales: SynthesisScales;

beforeAll(async () => {
  voice = await PiperVoice.open(MODEL);
  scales = { noiseScale: voice.config.noiseScale, lengthScale: 1, noiseW: voice.config.noiseW };
  const phonemizer = new Phonemizer();
  const texts = ['Hi.', 'The quick brown fox jumps over the lazy dog.', 'Speech comes in sentences of many lengths, short and long.', '今天天气很好。'];
  for (const [i, text] of texts.entries()) {
    const ipa = await phonemizer.phonemize(text, i === 3 ? 'cmn-latn-pinyin' : 'en-us');
    rows.push({ ids: phonemeIds(ipa, voice.config.phonemeIdMap).ids, speaker: i % 2 });
  }
});
afterAll(() => voice?.close());

const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('PiperVoice (default voice)', () => {
  it('reads its Piper config and batches (it reports output_lengths)', () => {
    expect(voice.config.sampleRate).toBe(22050);
    expect(voice.config.espeakVoices).toMatchObject({ en: 'en-us', zh: 'cmn-latn-pinyin' });
    expect(voice.config.numSpeakers).toBe(2);
    expect(voice.batchable).toBe(true);
  });

  it('gives the same audio for the same input', async () => {
    const a = await voice.run([rows[1]!], scales, 0);
    const b = await voice.run([rows[1]!], scales, 0);
    expect(a.audio[0]!.length).toBeGreaterThan(22050 * 0.5);
    expect(Buffer.from(a.audio[0]!.buffer).equals(Buffer.from(b.audio[0]!.buffer))).toBe(true);
  });

  it('gives batched rows, padded to a bucket, the audio each gets alone (float tolerance)', async () => {
    const alone = [];
    for (const row of rows) alone.push((await voice.run([row], scales, 0)).audio[0]!);
    const batched = await voice.run(rows, scales, 256);
    for (const [i, audio] of batched.audio.entries()) {
      expect(audio.length).toBe(alone[i]!.length);
      expect(maxAbsDiff(audio, alone[i]!)).toBeLessThan(1e-3);
    }
    // audio holds sound, not silence
    expect(Math.max(...batched.audio[1]!.map(Math.abs))).toBeGreaterThan(0.05);
  });

  it('speaks slower with a larger length scale and differs per speaker', async () => {
    const normal = (await voice.run([rows[2]!], scales, 0)).audio[0]!;
    const slow = (await voice.run([rows[2]!], { ...scales, lengthScale: 2 }, 0)).audio[0]!;
    expect(slow.length / normal.length).toBeGreaterThan(1.7);
    expect(slow.length / normal.length).toBeLessThan(2.3);
    const other = (await voice.run([{ ...rows[2]!, speaker: 1 - rows[2]!.speaker }], scales, 0)).audio[0]!;
    expect(maxAbsDiff(other.subarray(0, Math.min(other.length, normal.length)), normal)).toBeGreaterThan(0.01);
  });
});
