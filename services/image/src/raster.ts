/** Conversions between the decoder's planar float output and 8-bit RGB rasters. */
import type { Tensor } from '@aigc/serving';
import type { RasterImage } from './png-encoder.js';

/** Splits a decoder output `n x 3 x H x W` in [-1, 1] into n RGB rasters (rounded, clamped). */
export function decodedToRasters(pixels: Tensor): RasterImage[] {
  const [n, c, height, width] = pixels.dims as [number, number, number, number];
  if (c !== 3) throw new Error(`decoder produced ${c} channels; expected 3`);
  const data = pixels.data as Float32Array;
  const plane = height * width;
  const out: RasterImage[] = [];
  for (let img = 0; img < n; img++) {
    const rgb = new Uint8Array(plane * 3);
    const base = img * 3 * plane;
    for (let ch = 0; ch < 3; ch++) {
      for (let p = 0; p < plane; p++) {
        const v = (data[base + ch * plane + p]! + 1) * 0.5;
        rgb[p * 3 + ch] = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 255);
      }
    }
    out.push({ width, height, channels: 3, data: rgb });
  }
  return out;
}

/** Box-filters a raster down by an integer factor so its longer side is at most `maxSide`. */
export function shrink(image: RasterImage, maxSide: number): RasterImage {
  const factor = Math.ceil(Math.max(image.width, image.height) / maxSide);
  if (factor <= 1) return image;
  const width = Math.floor(image.width / factor);
  const height = Math.floor(image.height / factor);
  const c = image.channels;
  const data = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++) {
          for (let dx = 0; dx < factor; dx++) sum += image.data[((y * factor + dy) * image.width + x * factor + dx) * c + ch]!;
        }
        data[(y * width + x) * c + ch] = Math.round(sum / (factor * factor));
      }
    }
  }
  return { width, height, channels: c, data };
}
