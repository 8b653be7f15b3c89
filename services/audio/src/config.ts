import { commonConfig, env, type ConfigField } from '@aigc/runtime';

/** A field whose value is parsed (and so validated at start) by `parse`. */
const parsed = <T>(name: string, describe: string, raw: string, parse: (raw: string) => T): ConfigField<T> => ({ env: name, describe, default: parse(raw), parse });

/** Environment of the audio server (docs/configuration.md#audio). Voice defaults live in each `.onnx.json`. */
export const audioConfigSpec = {
  ...commonConfig({ grpcPort: 50055, metricsPort: 9465 }),
  voices: env.string(
    'AUDIO_VOICES',
    'comma-separated Piper voices to serve: .onnx files (config beside them as <file>.onnx.json) or folders holding them; empty: the repository\'s models/espeak-distilled',
    '',
  ),
  defaultVoice: env.string('AUDIO_DEFAULT_VOICE', 'voice used when a request names none (file name without .onnx)', 'espeak-distilled'),
  modelAliases: parsed('AUDIO_MODEL_ALIASES', 'other names a request may use for a voice, alias=voice comma-separated (OpenAI clients send tts-1)', 'tts-1=espeak-distilled,tts-1-hd=espeak-distilled', parseAliases),
  batching: env.oneOf('AUDIO_BATCHING', 'bucketed: sentences of similar length share padded batches; none: one sentence per call', ['bucketed', 'none'] as const, 'bucketed'),
  maxBatchSize: env.int('AUDIO_MAX_BATCH_SIZE', 'most sentences in one batch', 8, { min: 1, max: 256 }),
  buckets: parsed('AUDIO_BUCKETS', 'phoneme-id lengths sentences are padded to, comma-separated', '48,96,160,256,384,512', parseBuckets),
  maxQueueDelayMs: env.number('AUDIO_MAX_QUEUE_DELAY_MS', 'longest the oldest sentence waits for its batch to fill', 4, { min: 0, max: 1000 }),
  maxQueueSize: env.int('AUDIO_MAX_QUEUE_SIZE', 'sentences each priority level may queue before RESOURCE_EXHAUSTED', 512, { min: 1 }),
  instances: env.int('AUDIO_INSTANCES', 'ONNX Runtime sessions (worker threads) per voice', 1, { min: 1, max: 64 }),
  intraOpThreads: env.int('AUDIO_INTRA_OP_THREADS', 'ONNX Runtime intra-op threads per session', 1, { min: 1, max: 256 }),
  maxTextChars: env.int('AUDIO_MAX_TEXT_CHARS', 'longest text one request may carry, in characters', 5000, { min: 1 }),
  maxSentenceChars: env.int('AUDIO_MAX_SENTENCE_CHARS', 'longer sentences are cut at clause marks, then spaces', 200, { min: 16 }),
  espeakProgram: env.string('AUDIO_ESPEAK', 'the eSpeak NG program (Debian package espeak-ng)', 'espeak-ng'),
  phonemizerConcurrency: env.int('AUDIO_PHONEMIZER_CONCURRENCY', 'espeak-ng processes running at once', 4, { min: 1, max: 64 }),
};

/** Parses `AUDIO_MODEL_ALIASES` (`alias=voice,...`). */
function parseAliases(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [alias, voice, ...rest] = pair.split('=').map((s) => s.trim());
    if (!alias || !voice || rest.length > 0) throw new Error(`must be alias=voice pairs (got "${pair}")`);
    out.set(alias, voice);
  }
  return out;
}

/** Parses `AUDIO_BUCKETS`. */
function parseBuckets(raw: string): number[] {
  const values = raw.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1)) throw new Error('must list positive integers');
  return values;
}
