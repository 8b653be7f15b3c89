import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Phonemizer } from './phonemizer.js';
import { phonemeIds } from './phoneme-ids.js';
import { PiperVoice } from './piper-voice.js';
import { SynthesisBatcher } from './synthesis-batcher.js';
import { defaultModelsRoot, findVoiceFiles } from './voice-catalog.js';
import { languageOfEspeakVoice, parseVoiceConfig, readVoiceConfig } from './voice-config.js';

const DEFAULT = join(defaultModelsRoot(), 'espeak-distilled', 'espeak-distilled.onnx');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A folder holding the default voice's ONNX under `name` with the given config beside it. */
function voiceFolder(name: string, config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'voice-'));
  dirs.push(dir);
  symlinkSync(DEFAULT, join(dir, `${name}.onnx`));
  writeFileSync(join(dir, `${name}.onnx.json`), JSON.stringify(config));
  return dir;
}

/** Piper's own config layout: no `aigc` block. */
function piperConfig(): Record<string, unknown> {
  const own = JSON.parse(readFileSync(`${DEFAULT}.json`, 'utf8')) as Record<string, unknown>;
  const { aigc: _aigc, ...piper } = own;
  return piper;
}

describe('voice config', () => {
  it('reads the default voice: Piper fields plus the aigc languages and output_lengths', () => {
    const config = readVoiceConfig(`${DEFAULT}.json`);
    expect(config).toMatchObject({ sampleRate: 22050, defaultEspeakVoice: 'en-us', defaultLanguage: 'en', numSpeakers: 2, outputLengths: 'output_lengths' });
    expect(config.espeakVoices).toEqual({ en: 'en-us', zh: 'cmn-latn-pinyin' });
    expect(config.phonemeIdMap.get('_')).toEqual([0]);
  });

  it('names the file and field of a config that cannot serve', () => {
    const good = piperConfig();
    expect(() => parseVoiceConfig({ ...good, audio: {} }, 'x.onnx.json')).toThrow('x.onnx.json: audio.sample_rate must be a positive integer');
    expect(() => parseVoiceConfig({ ...good, espeak: {} }, 'x')).toThrow('x: espeak.voice must be a non-empty string');
    expect(() => parseVoiceConfig({ ...good, phoneme_id_map: { a: [1] } }, 'x')).toThrow('x: phoneme_id_map lacks "_"');
    expect(() => parseVoiceConfig({ ...good, phoneme_type: 'text' }, 'x')).toThrow('x: phoneme_type "text" is not served');
    expect(() => parseVoiceConfig({ ...good, inference: { noise_scale: 'loud' } }, 'x')).toThrow('x: inference.noise_scale must be a number >= 0');
  });

  it('maps eSpeak NG voices to languages', () => {
    expect(['en-us', 'en-gb-x-rp', 'cmn-latn-pinyin', 'cmn', 'de'].map(languageOfEspeakVoice)).toEqual(['en', 'en', 'zh', 'zh', 'de']);
  });

  it('finds voices in folders and refuses a model without its config', () => {
    const dir = voiceFolder('alpha', piperConfig());
    expect(findVoiceFiles(dir)).toEqual([join(dir, 'alpha.onnx')]);
    const bare = mkdtempSync(join(tmpdir(), 'voice-'));
    dirs.push(bare);
    symlinkSync(DEFAULT, join(bare, 'lonely.onnx'));
    expect(() => findVoiceFiles(bare)).toThrow(/holds no <voice>.onnx with its <voice>.onnx.json/);
    expect(() => findVoiceFiles(join(bare, 'missing'))).toThrow(/does not exist/);
  });
});

describe('a voice in Piper\'s own config format', () => {
  it('serves from config alone, one sentence per call, with the same audio as the batching voice', async () => {
    const piper = await PiperVoice.open(join(voiceFolder('piper-style', piperConfig()), 'piper-style.onnx'));
    const own = await PiperVoice.open(DEFAULT);
    try {
      expect(piper.batchable).toBe(false);
      expect(own.batchable).toBe(true);
      const phonemizer = new Phonemizer();
      const rows = [];
      for (const text of ['Piper voices need no code.', 'Short one.']) {
        rows.push({ ids: phonemeIds(await phonemizer.phonemize(text, piper.config.defaultEspeakVoice), piper.config.phonemeIdMap).ids, speaker: 0 });
      }
      const scales = { noiseScale: piper.config.noiseScale, lengthScale: piper.config.lengthScale, noiseW: piper.config.noiseW };
      const options = { mode: 'bucketed' as const, maxBatchSize: 8, buckets: [64, 128], maxQueueDelayMs: 20, maxQueueSize: 16 };
      const sizes: number[] = [];
      const single = new SynthesisBatcher(piper, { ...options, observer: { batchStarted: (b) => sizes.push(b.size) } });
      const batched = new SynthesisBatcher(own, options);
      const a = await Promise.all(rows.map((r) => single.synthesize(r, scales)));
      const b = await Promise.all(rows.map((r) => batched.synthesize(r, scales)));
      expect(sizes).toEqual([1, 1]);
      for (const [i, audio] of a.entries()) {
        expect(audio.samples.length).toBe(b[i]!.samples.length);
        expect(audio.samples.reduce((m, v, s) => Math.max(m, Math.abs(v - b[i]!.samples[s]!)), 0)).toBeLessThan(1e-3);
      }
      await expect(piper.run(rows, scales, 64)).rejects.toThrow(/one sentence per call/);
    } finally {
      await Promise.all([piper.close(), own.close()]);
    }
  });
});
