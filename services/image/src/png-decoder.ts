/**
 * A small PNG decoder for what this service writes and checks: 8-bit greyscale, RGB or RGBA,
 * non-interlaced. Verifies the signature and every chunk CRC, inflates IDAT, undoes all five filters.
 */
import { inflateSync } from 'node:zlib';
import { crc32 } from './crc32.js';
import { PNG_SIGNATURE, type RasterImage } from './png-encoder.js';

/** A PNG that cannot be decoded. */
export class PngFormatError extends Error {
  override readonly name = 'PngFormatError';
}

/** Decodes a PNG into RGB or RGBA bytes (greyscale expands to RGB). */
export function decodePng(file: Uint8Array): RasterImage {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw new PngFormatError('not a PNG: bad signature');
  let at = 8;
  let width = 0;
  let height = 0;
  let colourType = -1;
  const idat: Buffer[] = [];
  let ended = false;
  while (at < buf.length) {
    if (at + 12 > buf.length) throw new PngFormatError('truncated chunk');
    const length = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    const body = buf.subarray(at + 8, at + 8 + length);
    if (body.length !== length || at + 12 + length > buf.length) throw new PngFormatError(`truncated ${type} chunk`);
    if (crc32(buf.subarray(at + 4, at + 8), body) !== buf.readUInt32BE(at + 8 + length)) throw new PngFormatError(`bad CRC in ${type} chunk`);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const depth = body[8];
      colourType = body[9]!;
      if (depth !== 8 || ![0, 2, 6].includes(colourType) || body[12] !== 0) throw new PngFormatError(`unsupported PNG (depth ${depth}, colour type ${colourType}, interlace ${body[12]})`);
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') {
      ended = true;
      break;
    }
    at += 12 + length;
  }
  if (!ended || width === 0 || idat.length === 0) throw new PngFormatError('missing IHDR, IDAT or IEND');
  const bpp = colourType === 6 ? 4 : colourType === 2 ? 3 : 1;
  const stride = width * bpp;
  const raw = inflateSync(Buffer.concat(idat));
  if (raw.length !== (stride + 1) * height) throw new PngFormatError(`image data has ${raw.length} bytes, expected ${(stride + 1) * height}`);
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const type = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? pixels[row + i - bpp]! : 0;
      const b = y > 0 ? pixels[row - stride + i]! : 0;
      const c = y > 0 && i >= bpp ? pixels[row - stride + i - bpp]! : 0;
      let p: number;
      if (type === 0) p = 0;
      else if (type === 1) p = a;
      else if (type === 2) p = b;
      else if (type === 3) p = (a + b) >>> 1;
      else if (type === 4) {
        const q = a + b - c;
        const pa = Math.abs(q - a);
        const pb = Math.abs(q - b);
        const pc = Math.abs(q - c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else throw new PngFormatError(`bad filter type ${type} in row ${y}`);
      pixels[row + i] = (raw[src + i]! + p) & 0xff;
    }
  }
  if (bpp === 1) {
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0; i < pixels.length; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = pixels[i]!;
    return { width, height, channels: 3, data: rgb };
  }
  return { width, height, channels: bpp as 3 | 4, data: pixels };
}
