/**
 * 16-bit PCM and RIFF/WAVE encoding of mono float audio.
 */

/** Bytes of the canonical 44-byte WAV header (RIFF, `fmt ` PCM chunk, `data` chunk). */
export const WAV_HEADER_BYTES = 44;

/** Data size written in a streamed header whose length is not known yet (readers take "to end of stream"). */
const UNKNOWN_SIZE = 0xffffffff;

/** Encodes mono float samples as 16-bit little-endian PCM and wraps PCM in WAV headers. */
export class WavEncoder {
  constructor(readonly sampleRate: number) {
    if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new RangeError(`sample rate must be a positive integer (got ${sampleRate})`);
  }

  /** Float samples in [-1, 1] (clipped outside) -> 16-bit little-endian PCM. */
  pcm16(samples: Float32Array): Buffer {
    const out = Buffer.alloc(samples.length * 2);
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]!));
      out.writeInt16LE(Math.round(s * 32767), i * 2);
    }
    return out;
  }

  /**
   * The 44-byte header for `dataBytes` of PCM; without a size (streaming) the RIFF and data sizes
   * are 0xFFFFFFFF, which common readers (ffmpeg, sox, browsers) treat as "until the stream ends".
   */
  header(dataBytes?: number): Buffer {
    const h = Buffer.alloc(WAV_HEADER_BYTES);
    const known = dataBytes !== undefined;
    h.write('RIFF', 0, 'ascii');
    h.writeUInt32LE(known ? 36 + dataBytes : UNKNOWN_SIZE, 4);
    h.write('WAVE', 8, 'ascii');
    h.write('fmt ', 12, 'ascii');
    h.writeUInt32LE(16, 16); // PCM fmt chunk size
    h.writeUInt16LE(1, 20); // PCM
    h.writeUInt16LE(1, 22); // mono
    h.writeUInt32LE(this.sampleRate, 24);
    h.writeUInt32LE(this.sampleRate * 2, 28); // byte rate
    h.writeUInt16LE(2, 32); // block align
    h.writeUInt16LE(16, 34); // bits per sample
    h.write('data', 36, 'ascii');
    h.writeUInt32LE(known ? dataBytes : UNKNOWN_SIZE, 40);
    return h;
  }

  /** A complete WAV file of the given PCM (or float samples). */
  wav(audio: Buffer | Float32Array): Buffer {
    const pcm = audio instanceof Float32Array ? this.pcm16(audio) : audio;
    return Buffer.concat([this.header(pcm.length), pcm]);
  }
}

/** What a WAV header says; used by tests and clients to check a file. */
export interface WavInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** Bytes of PCM after the header (from the data chunk size, or to the end when unknown). */
  dataBytes: number;
  /** Seconds of audio the data holds. */
  durationSeconds: number;
  /** The PCM itself. */
  pcm: Buffer;
}

/** Reads a canonical 44-byte-header PCM WAV; throws on anything else. */
export function parseWav(file: Buffer): WavInfo {
  if (file.length < WAV_HEADER_BYTES || file.toString('ascii', 0, 4) !== 'RIFF' || file.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  if (file.toString('ascii', 12, 16) !== 'fmt ' || file.readUInt16LE(20) !== 1) throw new Error('not PCM WAV');
  if (file.toString('ascii', 36, 40) !== 'data') throw new Error('data chunk not at byte 36');
  const channels = file.readUInt16LE(22);
  const sampleRate = file.readUInt32LE(24);
  const bitsPerSample = file.readUInt16LE(34);
  const declared = file.readUInt32LE(40);
  const dataBytes = declared === UNKNOWN_SIZE ? file.length - WAV_HEADER_BYTES : declared;
  if (WAV_HEADER_BYTES + dataBytes > file.length) throw new Error(`data chunk says ${dataBytes} bytes, file has ${file.length - WAV_HEADER_BYTES}`);
  const pcm = file.subarray(WAV_HEADER_BYTES, WAV_HEADER_BYTES + dataBytes);
  return { sampleRate, channels, bitsPerSample, dataBytes, durationSeconds: dataBytes / (sampleRate * channels * (bitsPerSample / 8)), pcm };
}
