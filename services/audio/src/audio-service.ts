import { AudioFormat, AudioServiceService, inference, Modality, Usage, type SynthesizeRequest } from '@aigc/proto';
import { ServiceHost, type CallContext, type ConfigOf, type Logger } from '@aigc/runtime';
import { createInferenceHandlers, ModelSet, ServingMetrics } from '@aigc/serving';
import type { UsageRecord } from '@aigc/metering';
import type { audioConfigSpec } from './config.js';
import { Phonemizer } from './phonemizer.js';
import { PiperVoice } from './piper-voice.js';
import { SentenceSplitter } from './sentence-splitter.js';
import { SpeechSynthesizer, type SpeechChunk } from './speech-synthesizer.js';
import { SynthesisBatcher } from './synthesis-batcher.js';
import { findVoiceFiles, pickVoice } from './voice-catalog.js';
import { WavEncoder } from './wav-encoder.js';

/** Configuration of the audio server. */
export type AudioConfig = ConfigOf<typeof audioConfigSpec>;

/** Where usage goes: a `UsageMeter` in production. */
export interface UsageSink {
  record(record: UsageRecord): Promise<unknown>;
}

/** What the audio server is built from besides its config. */
export interface AudioServiceDeps {
  logger: Logger;
  meter: UsageSink;
  /** Overrides `config.metricsPort`; `null` serves no /metrics (tests). */
  metricsPort?: number | null;
}

/**
 * Starts the audio model server: opens every configured voice (ONNX Runtime in worker threads) with
 * a length-bucketed batcher, serves AudioService, and meters every request (audio seconds,
 * characters, measured compute time) to the usage stream.
 */
export async function startAudioService(config: AudioConfig, deps: AudioServiceDeps): Promise<ServiceHost> {
  const host = ServiceHost.fromConfig('audio', config, deps);
  const metrics = new ServingMetrics(host.registry);
  const phonemizer = new Phonemizer({ program: config.espeakProgram, concurrency: config.phonemizerConcurrency });
  const splitter = new SentenceSplitter({ maxChars: config.maxSentenceChars });
  const speakers = new Map<string, SpeechSynthesizer>();
  const voices: PiperVoice[] = [];
  const voiceFor = (model: string): SpeechSynthesizer => pickVoice(speakers, model, config.defaultVoice, config.modelAliases);
  try {
    for (const file of findVoiceFiles(config.voices)) {
      const voice = await PiperVoice.open(file, { instances: config.instances, intraOpThreads: config.intraOpThreads, logger: deps.logger.child({ component: 'executor' }) });
      voices.push(voice);
      const batcher = new SynthesisBatcher(voice, {
        mode: config.batching,
        maxBatchSize: config.maxBatchSize,
        buckets: config.buckets,
        maxQueueDelayMs: config.maxQueueDelayMs,
        maxQueueSize: config.maxQueueSize,
        observer: metrics.observerFor(voice.name),
        logger: deps.logger,
      });
      metrics.track(voice.name, () => ({ queueDepth: batcher.queueDepth, inFlight: batcher.inFlight, overloaded: batcher.overloaded, instances: voice.instances, busyTimeMs: voice.busyTimeMs() }));
      speakers.set(voice.name, new SpeechSynthesizer(voice, batcher, phonemizer, splitter, { maxTextChars: config.maxTextChars }, deps.logger));
      deps.logger.info('voice ready', { voice: voice.name, batchable: voice.batchable, speakers: voice.config.numSpeakers, languages: Object.keys(voice.config.espeakVoices) });
    }
    voiceFor('');
  } catch (err) {
    await Promise.all(voices.map((v) => v.close()));
    throw err;
  }

  // Each voice's ONNX model is also reachable over the Open Inference Protocol, as on every model server.
  const served = ModelSet.ofExecutors(voices.map((v) => ({ name: v.name, executor: v.executor })));
  host.addService(inference.GRPCInferenceServiceService, createInferenceHandlers(served, { serverName: 'aigc-audio' }));

  /** Runs one request, metering whatever audio was made (finished, failed or cancelled). */
  async function* speak(request: SynthesizeRequest, ctx: CallContext, stream: boolean): AsyncGenerator<SpeechChunk & { last: boolean; usage: Usage }> {
    const synthesizer = voiceFor(request.model);
    const sampleRate = synthesizer.voice.config.sampleRate;
    const usage = Usage.fromPartial({ characters: [...request.text].length });
    let samples = 0;
    let computeMs = 0;
    const chunks = synthesizer.speak(
      { text: request.text, language: request.language, speakerId: request.speakerId, speed: request.speed, noiseScale: request.noiseScale, noiseW: request.noiseW },
      { signal: ctx.signal, priority: request.priority, deadline: ctx.deadline?.getTime(), firstSentenceFirst: stream },
    );
    try {
      let held: SpeechChunk | undefined;
      // hold one chunk back so the last one can carry the usage
      for await (const chunk of chunks) {
        if (held) yield { ...held, last: false, usage };
        samples += chunk.samples.length;
        computeMs += chunk.computeMs;
        held = chunk;
      }
      usage.audioSeconds = samples / sampleRate;
      usage.computeMs = computeMs;
      if (held) yield { ...held, last: true, usage };
    } finally {
      if (samples > 0) {
        await deps.meter
          .record({
            requestId: ctx.requestId,
            tenantId: ctx.tenantId,
            apiKeyId: ctx.apiKeyId,
            reservationId: ctx.reservationId || request.reservationId || undefined,
            model: synthesizer.voice.name,
            modality: Modality.MODALITY_AUDIO,
            usage: { characters: usage.characters, audioSeconds: samples / sampleRate, computeMs },
          })
          .catch((err: unknown) => ctx.logger.error('usage event not published', { error: err }));
      }
      ctx.logger.info('synthesized', { voice: synthesizer.voice.name, audio_seconds: Number((samples / sampleRate).toFixed(3)), compute_ms: Math.round(computeMs) });
    }
  }

  host.addService(AudioServiceService, {
    async synthesize(request, ctx) {
      const encoder = new WavEncoder(voiceFor(request.model).voice.config.sampleRate);
      const parts: Buffer[] = [];
      let usage: Usage | undefined;
      for await (const chunk of speak(request, ctx, false)) {
        parts.push(encoder.pcm16(chunk.samples));
        if (chunk.last) usage = chunk.usage;
      }
      const pcm = Buffer.concat(parts);
      const pcmOnly = request.format === AudioFormat.AUDIO_FORMAT_PCM;
      return {
        audio: pcmOnly ? pcm : encoder.wav(pcm),
        sampleRate: encoder.sampleRate,
        format: pcmOnly ? AudioFormat.AUDIO_FORMAT_PCM : AudioFormat.AUDIO_FORMAT_WAV,
        usage,
      };
    },
    async *synthesizeStream(request, ctx) {
      const encoder = new WavEncoder(voiceFor(request.model).voice.config.sampleRate);
      const wav = request.format !== AudioFormat.AUDIO_FORMAT_PCM;
      for await (const chunk of speak(request, ctx, true)) {
        const pcm = encoder.pcm16(chunk.samples);
        yield {
          audio: wav && chunk.index === 0 ? Buffer.concat([encoder.header(), pcm]) : pcm,
          sampleRate: encoder.sampleRate,
          chunkIndex: chunk.index,
          usage: chunk.last ? chunk.usage : undefined,
        };
      }
    },
  });
  host.onShutdown(async () => {
    await Promise.all([...[...speakers.values()].map((s) => s.drain()), served.close()]);
    await Promise.all(voices.map((v) => v.close()));
  });
  await host.start();
  return host;
}
