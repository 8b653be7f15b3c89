import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, CONSUMERS, provision, STREAMS, type Bus } from '@aigc/bus';
import { decodeUsageEvent, UsageMeter } from '@aigc/metering';
import { AudioFormat, AudioServiceClient, Modality, type SynthesizeRequest } from '@aigc/proto';
import { callServerStream, callUnary, createClient, loadConfig, silentLogger, type ServiceHost } from '@aigc/runtime';
import { createHarness } from '@aigc/testing';
import { startAudioService } from '../src/audio-service.js';
import { audioConfigSpec } from '../src/config.js';
import { parseWav, WAV_HEADER_BYTES } from '../src/wav-encoder.js';

// A real audio server (default voice, ONNX Runtime worker threads, espeak-ng) metering into a real
// nats-server, called over gRPC.
const harness = createHarness();
let host: ServiceHost;
let client: AudioServiceClient;
let bus: Bus;

const request = (text: string, extra: Partial<SynthesizeRequest> = {}): SynthesizeRequest => ({
  model: '',
  text,
  language: '',
  speakerId: 0,
  format: AudioFormat.AUDIO_FORMAT_WAV,
  priority: 0,
  reservationId: '',
  ...extra,
});
const synthesize = (text: string, extra: Partial<SynthesizeRequest> = {}, metadata?: Metadata) =>
  callUnary(client, 'synthesize', request(text, extra), { metadata });
const FIVE = 'The first sentence is short. The second one is a little longer than the first. Here is the third. ' +
  'A fourth sentence follows the third one. And the fifth sentence ends the text.';

beforeAll(async () => {
  const nats = await harness.nats();
  bus = await connectBus({ servers: nats.url, name: 'audio-spec' });
  await provision(bus);
  const config = loadConfig(audioConfigSpec, { GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', NATS_URL: nats.url, LOG_LEVEL: 'silent', AUDIO_MAX_TEXT_CHARS: '400', AUDIO_MAX_QUEUE_DELAY_MS: '20' });
  host = await startAudioService(config, { logger: silentLogger, meter: new UsageMeter(bus, 'audio'), metricsPort: null });
  client = createClient(AudioServiceClient, host.address);
});
afterAll(async () => {
  client?.close();
  await host?.shutdown();
  await bus?.drain();
  await harness.close();
});

describe('AudioService.Synthesize', () => {
  it('returns a WAV whose header, size and duration agree with the usage it reports', async () => {
    const res = await synthesize('Hello world. This is the audio service speaking.');
    const wav = parseWav(Buffer.from(res.audio));
    expect(wav).toMatchObject({ sampleRate: 22050, channels: 1, bitsPerSample: 16 });
    expect(res.sampleRate).toBe(22050);
    expect(res.format).toBe(AudioFormat.AUDIO_FORMAT_WAV);
    expect(wav.dataBytes).toBe(res.audio.length - WAV_HEADER_BYTES);
    expect(wav.durationSeconds).toBeCloseTo(res.usage!.audioSeconds, 6);
    // two sentences of about nine words take a couple of seconds to say
    expect(wav.durationSeconds).toBeGreaterThan(1.5);
    expect(wav.durationSeconds).toBeLessThan(8);
    expect(res.usage!.computeMs).toBeGreaterThan(0);
    expect(res.usage!.characters).toBe(48);
  });

  it('gives the same audio for the same input, as WAV or raw PCM', async () => {
    const a = await synthesize('Same words, same sound.');
    const b = await synthesize('Same words, same sound.');
    const pcm = await synthesize('Same words, same sound.', { format: AudioFormat.AUDIO_FORMAT_PCM });
    expect(Buffer.from(a.audio).equals(Buffer.from(b.audio))).toBe(true);
    expect(pcm.format).toBe(AudioFormat.AUDIO_FORMAT_PCM);
    expect(Buffer.from(pcm.audio).equals(parseWav(Buffer.from(a.audio)).pcm)).toBe(true);
  });

  it('gives concurrent (batched) requests the audio each gets alone', async () => {
    // lengths differ, but all fit the 48-id bucket: they may share a padded batch
    const texts = ['One.', 'Two words here.', 'Three small words.', '你好。'];
    const alone = [];
    for (const t of texts) alone.push(parseWav(Buffer.from((await synthesize(t)).audio)).pcm);
    const batchSizes = async () => {
      const values = (await host.registry.getSingleMetric('aigc_serving_batch_size')!.get()).values as Array<{ metricName?: string; value: number }>;
      const read = (name: string) => values.find((v) => v.metricName === `aigc_serving_batch_size_${name}`)!.value;
      return { sum: read('sum'), count: read('count') };
    };
    const before = await batchSizes();
    const together = await Promise.all(texts.map((t) => synthesize(t)));
    const after = await batchSizes();
    // four sentences ran in fewer than four calls: some shared a batch
    expect(after.sum - before.sum).toBe(4);
    expect(after.count - before.count).toBeLessThan(4);
    for (const [i, res] of together.entries()) {
      const pcm = parseWav(Buffer.from(res.audio)).pcm;
      expect(pcm.length).toBe(alone[i]!.length);
      let worst = 0;
      for (let s = 0; s < pcm.length; s += 2) worst = Math.max(worst, Math.abs(pcm.readInt16LE(s) - alone[i]!.readInt16LE(s)));
      expect(worst).toBeLessThanOrEqual(32); // 16-bit steps: 1e-3 of full scale, float tolerance
    }
  });

  it('speaks faster with speed 2, and reads Chinese', async () => {
    const normal = parseWav(Buffer.from((await synthesize('Speed changes how long this takes.')).audio)).durationSeconds;
    const fast = parseWav(Buffer.from((await synthesize('Speed changes how long this takes.', { speed: 2 })).audio)).durationSeconds;
    expect(fast / normal).toBeGreaterThan(0.35);
    expect(fast / normal).toBeLessThan(0.65);
    const zh = parseWav(Buffer.from((await synthesize('今天天气很好，我们去公园散步。')).audio)).durationSeconds;
    expect(zh).toBeGreaterThan(1);
  });

  it('publishes usage (audio seconds, characters, compute time) once per request', async () => {
    const metadata = new Metadata();
    metadata.set('x-request-id', 'audio-usage-1');
    const res = await synthesize('Metered speech.', {}, metadata);
    const consumer = await bus.js.consumers.get(STREAMS.usage.name, CONSUMERS.billingLedger.name);
    let found;
    for (let i = 0; i < 50 && !found; i++) {
      const msg = await consumer.next({ expires: 2000 });
      if (!msg) break;
      msg.ack();
      const event = decodeUsageEvent(msg.data);
      if (event.requestId === 'audio-usage-1') found = { event, subject: msg.subject };
    }
    expect(found?.subject).toBe('aigc.usage.audio');
    expect(found?.event).toMatchObject({ service: 'audio', model: 'espeak-distilled', modality: Modality.MODALITY_AUDIO });
    expect(found?.event.usage?.audioSeconds).toBeCloseTo(res.usage!.audioSeconds, 6);
    expect(found?.event.usage?.characters).toBe(15);
    expect(found?.event.usage?.computeMs).toBeGreaterThan(0);
  });
});

describe('AudioService.SynthesizeStream', () => {
  it('streams five sentences in order, the first well before the last, equal to the unary audio', async () => {
    const started = performance.now();
    const chunks = [];
    for await (const chunk of callServerStream(client, 'synthesizeStream', request(FIVE))) chunks.push({ chunk, at: performance.now() - started });
    expect(chunks.map((c) => c.chunk.chunkIndex)).toEqual([0, 1, 2, 3, 4]);
    const first = Buffer.from(chunks[0]!.chunk.audio);
    expect(first.toString('ascii', 0, 4)).toBe('RIFF');
    expect(first.readUInt32LE(40)).toBe(0xffffffff); // length unknown while streaming
    expect(chunks.slice(1).every((c) => Buffer.from(c.chunk.audio).toString('ascii', 0, 4) !== 'RIFF')).toBe(true);
    expect(chunks.slice(0, 4).every((c) => c.chunk.usage === undefined)).toBe(true);
    const usage = chunks[4]!.chunk.usage!;
    // the first sentence runs alone; the other four follow in one batch after it
    expect(chunks[0]!.at).toBeLessThan(0.6 * chunks[4]!.at);
    const streamed = parseWav(Buffer.concat(chunks.map((c) => Buffer.from(c.chunk.audio))));
    expect(streamed.durationSeconds).toBeCloseTo(usage.audioSeconds, 6);
    const unary = parseWav(Buffer.from((await synthesize(FIVE)).audio));
    expect(streamed.pcm.length).toBe(unary.pcm.length);
    let worst = 0;
    for (let s = 0; s < unary.pcm.length; s += 2) worst = Math.max(worst, Math.abs(unary.pcm.readInt16LE(s) - streamed.pcm.readInt16LE(s)));
    expect(worst).toBeLessThanOrEqual(32);
  });

  it('streams raw PCM without a header when asked', async () => {
    const chunks = [];
    for await (const chunk of callServerStream(client, 'synthesizeStream', request('One. Two.', { format: AudioFormat.AUDIO_FORMAT_PCM }))) chunks.push(chunk);
    expect(chunks).toHaveLength(2);
    expect(Buffer.from(chunks[0]!.audio).toString('ascii', 0, 4)).not.toBe('RIFF');
    expect(chunks.reduce((n, c) => n + c.audio.length, 0) / 2 / 22050).toBeCloseTo(chunks[1]!.usage!.audioSeconds, 6);
  });
});

describe('audio config', () => {
  it('refuses bad buckets and aliases at start, naming the variable', () => {
    expect(() => loadConfig(audioConfigSpec, { AUDIO_BUCKETS: '64,x' })).toThrow(/AUDIO_BUCKETS="64,x": must list positive integers/);
    expect(() => loadConfig(audioConfigSpec, { AUDIO_MODEL_ALIASES: 'tts-1' })).toThrow(/AUDIO_MODEL_ALIASES="tts-1": must be alias=voice pairs/);
    expect(loadConfig(audioConfigSpec, {}).buckets).toEqual([48, 96, 160, 256, 384, 512]);
  });
});

describe('AudioService request errors', () => {
  const invalid = (pattern: RegExp) => ({ code: status.INVALID_ARGUMENT, message: expect.stringMatching(pattern) });

  it('refuses empty, oversized and unspeakable text with INVALID_ARGUMENT and a clear message', async () => {
    await expect(synthesize('')).rejects.toMatchObject(invalid(/text is empty/));
    await expect(synthesize('   \n ')).rejects.toMatchObject(invalid(/text is empty/));
    await expect(synthesize('word '.repeat(81))).rejects.toMatchObject(invalid(/too long: 405 characters, at most 400/));
    await expect(synthesize('★★★ ♪♪ ——')).rejects.toMatchObject(invalid(/nothing speakable/));
    const stream = callServerStream(client, 'synthesizeStream', request('♪♪♪'));
    await expect(stream.next()).rejects.toMatchObject(invalid(/nothing speakable/));
  });

  it('refuses bad parameters and unknown voices by name', async () => {
    await expect(synthesize('Hi.', { speakerId: 7 })).rejects.toMatchObject(invalid(/speaker_id 7 is out of range: voice espeak-distilled has 2 speakers/));
    await expect(synthesize('Hi.', { speed: 0 })).rejects.toMatchObject(invalid(/speed must be between/));
    await expect(synthesize('Hi.', { noiseScale: -1 })).rejects.toMatchObject(invalid(/noise_scale must be between/));
    await expect(synthesize('Hi.', { noiseW: 3 })).rejects.toMatchObject(invalid(/noise_w must be between/));
    await expect(synthesize('Hi.', { language: 'fr' })).rejects.toMatchObject(invalid(/language "fr" is not spoken by voice espeak-distilled \(it speaks en, zh\)/));
    await expect(synthesize('Hi.', { model: 'nope' })).rejects.toMatchObject({ code: status.NOT_FOUND, message: expect.stringMatching(/voice "nope" is not served/) });
    // OpenAI clients name tts-1: an alias of the default voice
    const aliased = await synthesize('Hi.', { model: 'tts-1' });
    expect(Buffer.from(aliased.audio).equals(Buffer.from((await synthesize('Hi.', { model: 'espeak-distilled' })).audio))).toBe(true);
  });
});
