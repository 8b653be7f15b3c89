import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceError, Status } from '@aigc/runtime';
import { readModelSpec } from './model-spec.js';
import { TextEmbedder } from './text-embedder.js';

const MODELS = fileURLToPath(new URL('../../../models', import.meta.url));
let embedder: TextEmbedder;

beforeAll(async () => {
  embedder = await TextEmbedder.load(readModelSpec(MODELS, 'fortunes-embed'));
});
afterAll(async () => {
  await embedder.close();
});

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((n, v, i) => n + v * b[i]!, 0);

describe('TextEmbedder (fortunes-embed through the dynamic batcher)', () => {
  it('returns one unit vector per text', async () => {
    const { vectors, tokens } = await embedder.embed(['床前明月光', 'The fool doth think he is wise']);
    expect(vectors).toHaveLength(2);
    for (const v of vectors) {
      expect(v).toHaveLength(128);
      expect(cosine(v, v)).toBeCloseTo(1, 4);
    }
    expect(tokens).toBe(5 + 30);
  });

  it('gives the same vector alone as padded into a batch with longer texts from other calls', async () => {
    const text = '春眠不觉晓';
    const [alone] = (await embedder.embed([text])).vectors;
    const [together] = await Promise.all([
      embedder.embed([text]),
      embedder.embed(['处处闻啼鸟。夜来风雨声，花落知多少。', 'A longer English sentence that pads the batch.']),
    ]);
    expect(cosine(alone!, together.vectors[0]!)).toBeCloseTo(1, 4);
  });

  it('rejects empty inputs, naming them', async () => {
    await expect(embedder.embed([])).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, message: 'inputs must hold at least one text' });
    const err = await embedder.embed(['ok', '']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as Error).message).toBe('inputs[1] must not be empty');
  });
});
