/**
 * A small PNG encoder: 8-bit RGB or RGBA, one IDAT stream compressed by node:zlib, a filter chosen
 * per row by the minimum-sum-of-absolute-differences heuristic. Same pixels -> same bytes.
 */
import { deflateSync } from 'node:zlib';
import { crc32 } from './crc32.js';

/** PNG file signature. */
export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** An 8-bit image, row-major, `channels` interleaved bytes per pixel. */
export interface RasterImage {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array;
}

/** Encodes raster images as PNG files. */
export class PngEncoder {
  constructor(private readonly level = 6) {}

  /** Encodes one image. */
  encode(image: RasterImage): Buffer {
    const { width, height, channels, data } = image;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new RangeError(`bad image size ${width}x${height}`);
    if (data.length !== width * height * channels) throw new RangeError(`expected ${width * height * channels} bytes, got ${data.length}`);
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = channels === 4 ? 6 : 2; // colour type: RGBA or RGB
    const filtered = filterRows(data, width * channels, height, channels);
    const idat = deflateSync(filtered, { level: this.level });
    return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
  }
}

/** Encodes one image with the default encoder. */
export function encodePng(image: RasterImage): Buffer {
  return new PngEncoder().encode(image);
}

function chunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(head.subarray(4), body), 0);
  return Buffer.concat([head, body, crc]);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function filterRows(data: Uint8Array, stride: number, height: number, bpp: number): Uint8Array {
  const out = new Uint8Array((stride + 1) * height);
  const candidate = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const prev = y > 0 ? row - stride : -1;
    let bestScore = Infinity;
    for (let type = 0; type <= 4; type++) {
      let score = 0;
      for (let i = 0; i < stride; i++) {
        const x = data[row + i]!;
        const a = i >= bpp ? data[row + i - bpp]! : 0;
        const b = prev >= 0 ? data[prev + i]! : 0;
        const c = prev >= 0 && i >= bpp ? data[prev + i - bpp]! : 0;
        const predicted = type === 0 ? 0 : type === 1 ? a : type === 2 ? b : type === 3 ? (a + b) >>> 1 : paeth(a, b, c);
        const v = (x - predicted) & 0xff;
        candidate[i] = v;
        score += v < 128 ? v : 256 - v;
      }
      if (score < bestScore) {
        bestScore = score;
        out[y * (stride + 1)] = type;
        out.set(candidate, y * (stride + 1) + 1);
      }
    }
  }
  return out;
}
