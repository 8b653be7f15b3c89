import type { Usage } from '@aigc/proto';

/** Worst-case units of one request, from what the gateway can see before any model runs. */
export type Estimate = Partial<Usage>;

/**
 * Prompt tokens are at most the prompt's UTF-8 bytes for byte-level tokenizers, the common case;
 * completion tokens are the request's max_tokens, which the gateway always sets.
 */
export function textEstimate(prompt: string, maxTokens: number): Estimate {
  return { promptTokens: Buffer.byteLength(prompt, 'utf8') + 16, completionTokens: maxTokens };
}

/** Embeddings: every input's bytes. */
export function embeddingEstimate(inputs: string[]): Estimate {
  return { promptTokens: inputs.reduce((n, s) => n + Buffer.byteLength(s, 'utf8') + 2, 0) };
}

/** Images: n images, the requested steps (or `defaultSteps`), and their pixels (or the default size's). */
export function imageEstimate(n: number, steps: number, width: number, height: number, defaults: { steps: number; side: number }): Estimate {
  const images = Math.max(1, n);
  const w = width || defaults.side;
  const h = height || defaults.side;
  return { images, steps: images * (steps || defaults.steps), pixels: images * w * h };
}

/** Speech: characters, and audio seconds at a slow speaking rate (8 characters a second) over the speed. */
export function speechEstimate(text: string, speed: number | undefined): Estimate {
  const characters = [...text].length;
  return { characters, audioSeconds: characters / 8 / (speed && speed > 0 ? speed : 1) + 1 };
}
