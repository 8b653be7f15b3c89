/**
 * Text -> speech for one voice: validate, split into sentences, phonemize with eSpeak NG, map to
 * Piper ids, synthesize through the length-bucketed batcher, and hand back audio sentence by sentence.
 */
import { invalidArgument } from '@aigc/runtime';
import type { Logger } from '@aigc/serving';
import { phonemeIds } from './phoneme-ids.js';
import type { Phonemizer } from './phonemizer.js';
import type { PiperVoice, SynthesisRow, SynthesisScales } from './piper-voice.js';
import type { SentenceSplitter } from './sentence-splitter.js';
import type { SentenceAudio, SynthesisBatcher } from './synthesis-batcher.js';

/** What a caller asks for (the service maps `SynthesizeRequest` onto it). */
export interface SpeechRequest {
  text: string;
  /** BCP-47 tag ("en", "zh-CN"); empty: Han text is read as Chinese when the voice speaks it, else the voice's language. */
  language: string;
  speakerId: number;
  /** 1 is normal; 2 twice as fast. */
  speed?: number;
  noiseScale?: number;
  /** Variation of phoneme durations; default the voice's. */
  noiseW?: number;
}

/** How one synthesis runs. */
export interface SpeechOptions {
  signal?: AbortSignal;
  priority?: number;
  deadline?: number;
  /**
   * Streaming: the first sentence runs alone and the rest are queued only once its batch has started,
   * so the first chunk is not held back by the others.
   */
  firstSentenceFirst?: boolean;
}

/** Limits on what one request may ask for. */
export interface SpeechLimits {
  /** Longest text in characters (code points). */
  maxTextChars: number;
}

/** One synthesized sentence. */
export interface SpeechChunk extends SentenceAudio {
  index: number;
}

interface Planned {
  text: string;
  espeakVoice: string;
}

const HAN = /\p{Script=Han}/u;

/** Speaks text with one voice; see the module comment. */
export class SpeechSynthesizer {
  constructor(
    readonly voice: PiperVoice,
    private readonly batcher: SynthesisBatcher,
    private readonly phonemizer: Phonemizer,
    private readonly splitter: SentenceSplitter,
    private readonly limits: SpeechLimits,
    private readonly logger?: Logger,
  ) {}

  /**
   * Yields each sentence's audio in reading order. Request errors (empty, oversized or unspeakable
   * text, bad parameters) are thrown before any audio.
   */
  async *speak(request: SpeechRequest, options: SpeechOptions = {}): AsyncGenerator<SpeechChunk> {
    const scales = this.scales(request);
    const plan = this.plan(request);
    const local = new AbortController();
    const onAbort = (): void => local.abort(options.signal!.reason);
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const signal = local.signal;
    const pending: Array<Promise<SentenceAudio>> = [];
    try {
      const phonemes = plan.map((p) => this.phonemizer.phonemize(p.text, p.espeakVoice, signal));
      phonemes.forEach((p) => p.catch(() => undefined));
      const rows = async (from: number, to: number): Promise<SynthesisRow[]> => {
        const out: SynthesisRow[] = [];
        for (let i = from; i < to; i++) {
          const mapped = phonemeIds(await phonemes[i]!, this.voice.config.phonemeIdMap);
          if (mapped.missing.length > 0) this.logger?.debug('phonemes unknown to the voice skipped', { voice: this.voice.name, missing: mapped.missing.join('') });
          // a sentence of marks only ("...", "?!") has nothing to say: skipped
          if (mapped.spoken > 0) out.push({ ids: mapped.ids, speaker: request.speakerId });
        }
        return out;
      };
      const submit = (row: SynthesisRow, onStart?: () => void): Promise<SentenceAudio> => {
        const p = this.batcher.synthesize(row, scales, { signal, priority: options.priority, deadline: options.deadline, onStart });
        p.catch(() => undefined);
        pending.push(p);
        return p;
      };
      if (options.firstSentenceFirst) {
        // the first speakable sentence goes alone; the rest follow once its batch has started
        let next = 0;
        let first: SynthesisRow | undefined;
        while (!first && next < plan.length) [first] = await rows(next, ++next);
        if (!first) throw this.unspeakable(request);
        let started!: () => void;
        const startedOrDone = new Promise<void>((r) => (started = r));
        const firstAudio = submit(first, started);
        await Promise.race([startedOrDone, firstAudio.then(() => undefined, () => undefined)]);
        for (const row of await rows(next, plan.length)) submit(row);
      } else {
        const all = await rows(0, plan.length);
        if (all.length === 0) throw this.unspeakable(request);
        for (const row of all) submit(row);
      }
      for (const [index, p] of pending.entries()) yield { index, ...(await p) };
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      // a consumer that stops early (or an error) withdraws the sentences still queued
      if (!local.signal.aborted) local.abort(new Error('synthesis ended'));
    }
  }

  /** Stops taking sentences and finishes those queued (shutdown). */
  drain(): Promise<void> {
    return this.batcher.drain();
  }

  private scales(request: SpeechRequest): SynthesisScales {
    const cfg = this.voice.config;
    const speed = request.speed ?? 1;
    if (!Number.isFinite(speed) || speed < 0.25 || speed > 4) throw invalidArgument(`speed must be between 0.25 and 4 (got ${speed})`);
    const noise = request.noiseScale ?? cfg.noiseScale;
    if (!Number.isFinite(noise) || noise < 0 || noise > 2) throw invalidArgument(`noise_scale must be between 0 and 2 (got ${noise})`);
    if (!Number.isInteger(request.speakerId) || request.speakerId < 0 || request.speakerId >= cfg.numSpeakers) {
      throw invalidArgument(`speaker_id ${request.speakerId} is out of range: voice ${this.voice.name} has ${cfg.numSpeakers} speaker${cfg.numSpeakers === 1 ? '' : 's'} (0-${cfg.numSpeakers - 1})`);
    }
    const noiseW = request.noiseW ?? cfg.noiseW;
    if (!Number.isFinite(noiseW) || noiseW < 0 || noiseW > 2) throw invalidArgument(`noise_w must be between 0 and 2 (got ${noiseW})`);
    return { noiseScale: noise, lengthScale: cfg.lengthScale / speed, noiseW };
  }

  private plan(request: SpeechRequest): Planned[] {
    const text = request.text ?? '';
    if (text.trim().length === 0) throw invalidArgument('text is empty: give the text to speak');
    const chars = [...text].length;
    if (chars > this.limits.maxTextChars) {
      throw invalidArgument(`text is too long: ${chars} characters, at most ${this.limits.maxTextChars} per request (split it, or stream several requests)`);
    }
    const voices = this.voice.config.espeakVoices;
    let fixed: string | undefined;
    if (request.language) {
      const primary = request.language.toLowerCase().split(/[-_]/u)[0]!;
      const lang = ['cmn', 'zho', 'chi'].includes(primary) ? 'zh' : primary;
      fixed = voices[lang];
      if (!fixed) throw invalidArgument(`language "${request.language}" is not spoken by voice ${this.voice.name} (it speaks ${Object.keys(voices).join(', ')})`);
    }
    const own = this.voice.config.defaultEspeakVoice;
    return this.splitter.split(text).map((sentence) => ({
      text: sentence,
      espeakVoice: fixed ?? (voices.zh && HAN.test(sentence) ? voices.zh : own),
    }));
  }

  private unspeakable(request: SpeechRequest) {
    const preview = [...request.text.trim()].slice(0, 40).join('');
    return invalidArgument(`text has nothing speakable: eSpeak NG found no phonemes voice ${this.voice.name} can say in "${preview}"`);
  }
}
