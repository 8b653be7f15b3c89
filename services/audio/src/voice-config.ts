/**
 * Piper's voice config (`<voice>.onnx.json`), the common open format for local speech, plus the
 * optional `aigc` block the platform's own voices add (ignored by Piper).
 */
import { readFileSync } from 'node:fs';

/** Thrown for a config that cannot serve; the message names the file and the field. */
export class VoiceConfigError extends Error {
  override readonly name = 'VoiceConfigError';
}

/** What the audio service needs from a voice's `.onnx.json`. */
export interface VoiceConfig {
  sampleRate: number;
  /** eSpeak NG voice per language ("en", "zh", ...); `default` is the one the config names. */
  espeakVoices: Record<string, string>;
  /** The config's own eSpeak NG voice (Piper's `espeak.voice`). */
  defaultEspeakVoice: string;
  /** Language of `defaultEspeakVoice`, as a BCP-47 primary tag. */
  defaultLanguage: string;
  /** Piper's `phoneme_id_map`: one phoneme (a Unicode code point, NFD) -> ids. */
  phonemeIdMap: Map<string, number[]>;
  numSpeakers: number;
  speakerIdMap: Record<string, number>;
  /** Defaults of the `scales` input. */
  noiseScale: number;
  lengthScale: number;
  noiseW: number;
  /**
   * Name of an output holding each row's sample count: the model can run padded batches. Piper's
   * VITS exports have none, so they run one sentence per session call.
   */
  outputLengths: string | undefined;
}

/** Primary BCP-47 tag of an eSpeak NG voice name: `en-us` -> `en`, `cmn-latn-pinyin` -> `zh`. */
export function languageOfEspeakVoice(voice: string): string {
  const primary = voice.toLowerCase().split(/[-_+]/u)[0] ?? voice;
  return ['cmn', 'yue', 'zh', 'hak'].includes(primary) ? 'zh' : primary;
}

/** Reads and validates a Piper voice config file. */
export function readVoiceConfig(path: string): VoiceConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new VoiceConfigError(`${path}: cannot read voice config: ${(err as Error).message}`);
  }
  return parseVoiceConfig(raw, path);
}

/** Validates a parsed Piper voice config; `source` names it in errors. */
export function parseVoiceConfig(raw: unknown, source = 'voice config'): VoiceConfig {
  const fail = (field: string, why: string): never => {
    throw new VoiceConfigError(`${source}: ${field} ${why}`);
  };
  if (!isObject(raw)) return fail('(root)', 'must be a JSON object');
  const audio = isObject(raw.audio) ? raw.audio : fail('audio', 'must be an object');
  const sampleRate = audio.sample_rate;
  if (!Number.isInteger(sampleRate) || (sampleRate as number) <= 0) fail('audio.sample_rate', 'must be a positive integer');
  const espeak = isObject(raw.espeak) ? raw.espeak : fail('espeak', 'must be an object');
  const defaultEspeakVoice = typeof espeak.voice === 'string' && espeak.voice ? espeak.voice : fail('espeak.voice', 'must be a non-empty string');
  if (raw.phoneme_type !== undefined && raw.phoneme_type !== 'espeak') fail('phoneme_type', `"${String(raw.phoneme_type)}" is not served (only "espeak")`);
  const idMapRaw = isObject(raw.phoneme_id_map) ? raw.phoneme_id_map : fail('phoneme_id_map', 'must be an object');
  const phonemeIdMap = new Map<string, number[]>();
  for (const [phoneme, ids] of Object.entries(idMapRaw)) {
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((i) => Number.isInteger(i) && i >= 0)) {
      fail(`phoneme_id_map[${JSON.stringify(phoneme)}]`, 'must be a non-empty array of ids');
    }
    phonemeIdMap.set(phoneme.normalize('NFD'), ids as number[]);
  }
  for (const required of ['_', '^', '$']) if (!phonemeIdMap.has(required)) fail('phoneme_id_map', `lacks "${required}" (pad, start, end)`);
  const numSpeakers = raw.num_speakers === undefined ? 1 : raw.num_speakers;
  if (!Number.isInteger(numSpeakers) || (numSpeakers as number) < 1) fail('num_speakers', 'must be an integer >= 1');
  const inference = isObject(raw.inference) ? raw.inference : {};
  const num = (key: string, def: number): number => {
    const v = inference[key];
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`inference.${key}`, 'must be a number >= 0');
    return v as number;
  };
  const aigc = isObject(raw.aigc) ? raw.aigc : {};
  const espeakVoices: Record<string, string> = { [languageOfEspeakVoice(defaultEspeakVoice)]: defaultEspeakVoice };
  if (aigc.espeak_voices !== undefined) {
    if (!isObject(aigc.espeak_voices)) fail('aigc.espeak_voices', 'must map languages to eSpeak NG voices');
    for (const [lang, voice] of Object.entries(aigc.espeak_voices as Record<string, unknown>)) {
      if (typeof voice !== 'string' || !voice) fail(`aigc.espeak_voices.${lang}`, 'must be a voice name');
      espeakVoices[lang.toLowerCase()] = voice as string;
    }
  }
  const outputLengths = aigc.output_lengths;
  if (outputLengths !== undefined && typeof outputLengths !== 'string') fail('aigc.output_lengths', 'must be an output name');
  const speakerIdMap: Record<string, number> = isObject(raw.speaker_id_map) ? (raw.speaker_id_map as Record<string, number>) : {};
  return {
    sampleRate: sampleRate as number,
    espeakVoices,
    defaultEspeakVoice,
    defaultLanguage: languageOfEspeakVoice(defaultEspeakVoice),
    phonemeIdMap,
    numSpeakers: numSpeakers as number,
    speakerIdMap,
    noiseScale: num('noise_scale', 0.667),
    lengthScale: num('length_scale', 1),
    noiseW: num('noise_w', 0.8),
    outputLengths: outputLengths as string | undefined,
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
