import { describe, expect, it } from 'vitest';
import { parseWav, WAV_HEADER_BYTES, WavEncoder } from './wav-encoder.js';

describe('WavEncoder', () => {
  it('writes a canonical 16-bit mono PCM header whose sizes and duration match the data', () => {
    const encoder = new WavEncoder(22050);
    const samples = new Float32Array(22050 * 2).map((_, i) => Math.sin(i / 10) * 0.5);
    const file = encoder.wav(samples);
    expect(file.length).toBe(WAV_HEADER_BYTES + samples.length * 2);
    expect(file.toString('ascii', 0, 4)).toBe('RIFF');
    expect(file.readUInt32LE(4)).toBe(file.length - 8);
    expect(file.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect(file.readUInt16LE(20)).toBe(1); // PCM
    expect(file.readUInt32LE(28)).toBe(22050 * 2); // byte rate
    expect(file.readUInt16LE(32)).toBe(2); // block align
    const info = parseWav(file);
    expect(info).toMatchObject({ sampleRate: 22050, channels: 1, bitsPerSample: 16, dataBytes: samples.length * 2 });
    expect(info.durationSeconds).toBe(2);
  });

  it('encodes samples as little-endian 16-bit, clipping outside [-1, 1]', () => {
    const pcm = new WavEncoder(16000).pcm16(Float32Array.from([0, 1, -1, 0.5, 3, -3]));
    expect([0, 1, 2, 3, 4, 5].map((i) => pcm.readInt16LE(i * 2))).toEqual([0, 32767, -32767, 16384, 32767, -32767]);
  });

  it('marks a streamed header as open-ended and reads it to the end of the data', () => {
    const encoder = new WavEncoder(8000);
    const streamed = Buffer.concat([encoder.header(), encoder.pcm16(new Float32Array(800)), encoder.pcm16(new Float32Array(800))]);
    expect(streamed.readUInt32LE(40)).toBe(0xffffffff);
    expect(parseWav(streamed).durationSeconds).toBeCloseTo(0.2, 6);
  });

  it('rejects what is not PCM WAV', () => {
    expect(() => parseWav(Buffer.from('not a wav file at all, not at all, no riff here'))).toThrow(/RIFF/);
    expect(() => new WavEncoder(0)).toThrow(/sample rate/);
  });
});
