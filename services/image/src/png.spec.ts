import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32 } from './crc32.js';
import { decodePng, PngFormatError } from './png-decoder.js';
import { encodePng, PNG_SIGNATURE, type RasterImage } from './png-encoder.js';

function gradient(width: number, height: number, channels: 3 | 4): RasterImage {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + ((i / channels) | 0) * 11) & 0xff;
  return { width, height, channels, data };
}

describe('crc32', () => {
  it('matches the IEEE check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.from('1234'), Buffer.from('56789'))).toBe(0xcbf43926);
  });
});

describe('PngEncoder', () => {
  it('writes PNGs that decode to the same pixels, RGB and RGBA, odd sizes', () => {
    for (const [w, h, c] of [[1, 1, 3], [32, 32, 3], [7, 13, 4], [64, 3, 3]] as const) {
      const image = gradient(w, h, c);
      const png = encodePng(image);
      expect(png.subarray(0, 8).equals(Buffer.from(PNG_SIGNATURE))).toBe(true);
      const back = decodePng(png);
      expect(back).toMatchObject({ width: w, height: h, channels: c });
      expect(Buffer.from(back.data).equals(Buffer.from(image.data))).toBe(true);
    }
  });

  it('is deterministic: the same pixels give the same bytes', () => {
    const image = gradient(32, 32, 3);
    expect(encodePng(image).equals(encodePng({ ...image, data: image.data.slice() }))).toBe(true);
  });

  it('rejects a buffer that does not match the size', () => {
    expect(() => encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(11) })).toThrow(/expected 12 bytes/);
  });
});

describe('decodePng', () => {
  it('rejects corrupt files: bad signature, bad CRC, truncation', () => {
    const png = encodePng(gradient(8, 8, 3));
    expect(() => decodePng(Buffer.from('not a png at all'))).toThrow(PngFormatError);
    const flipped = Buffer.from(png);
    flipped[40] = flipped[40]! ^ 0xff;
    expect(() => decodePng(flipped)).toThrow(/bad CRC|truncated/);
    expect(() => decodePng(png.subarray(0, png.length - 20))).toThrow(PngFormatError);
  });

  it('undoes every filter type and expands greyscale', () => {
    // 3x2 greyscale rows: filter 1 (Sub) then 4 (Paeth), written by hand.
    const raw = Uint8Array.of(1, 10, 5, 5, 4, 1, 1, 1);
    const body = Buffer.alloc(13);
    body.writeUInt32BE(3, 0);
    body.writeUInt32BE(2, 4);
    body[8] = 8;
    body[9] = 0;
    const chunk = (type: string, data: Buffer) => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length, 0);
      head.write(type, 4, 'latin1');
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(head.subarray(4), data), 0);
      return Buffer.concat([head, data, crc]);
    };
    const file = Buffer.concat([Buffer.from(PNG_SIGNATURE), chunk('IHDR', body), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
    const img = decodePng(file);
    // Row 0: 10, 15, 20. Row 1 (Paeth): 10+1=11, 15+1=16 (b=15 nearest), 20+1=21.
    expect(Array.from(img.data).filter((_, i) => i % 3 === 0)).toEqual([10, 15, 20, 11, 16, 21]);
  });
});
