/**
 * The audio service: text-to-speech over Piper-format voices with length-bucketed batching and
 * sentence-by-sentence streaming.
 */
export { audioConfigSpec } from './config.js';
export { startAudioService, type AudioConfig, type AudioServiceDeps, type UsageSink } from './audio-service.js';
export { Phonemizer, type PhonemizerOptions } from './phonemizer.js';
export { phonemeIds, type PhonemeIds } from './phoneme-ids.js';
export { PiperVoice, type PiperVoiceOptions, type SynthesisRow, type SynthesisScales } from './piper-voice.js';
export { SentenceSplitter, type SentenceSplitterOptions } from './sentence-splitter.js';
export { SpeechSynthesizer, type SpeechChunk, type SpeechOptions, type SpeechRequest, type SpeechLimits } from './speech-synthesizer.js';
export { SynthesisBatcher, type BatchingMode, type SentenceAudio, type SynthesisBatcherOptions } from './synthesis-batcher.js';
export { defaultModelsRoot, findVoiceFiles, pickVoice } from './voice-catalog.js';
export { languageOfEspeakVoice, parseVoiceConfig, readVoiceConfig, VoiceConfigError, type VoiceConfig } from './voice-config.js';
export { parseWav, WavEncoder, WAV_HEADER_BYTES, type WavInfo } from './wav-encoder.js';
