import { FinishReason, type SamplingParams, type TokenLogprob } from '@aigc/proto';
import { badRequest } from './openai-error.js';
import type { Fields } from './fields.js';

/**
 * OpenAI sampling fields -> the platform's SamplingParams. Types and ranges are checked here so
 * a bad value is a 400 naming the field; the text server re-validates against its own limits.
 * `top_k`, `repetition_penalty` and `ignore_eos` are accepted as extensions, as vLLM and TGI do.
 */
export function samplingFrom(fields: Fields, kind: 'chat' | 'completion'): SamplingParams {
  const n = fields.number('n', { min: 1, integer: true });
  if (n !== undefined && n !== 1) throw badRequest(`'n' must be 1: one choice per request is supported, got ${n}`, 'n');
  const maxTokens = fields.number(kind === 'chat' ? 'max_completion_tokens' : 'max_tokens', { min: 1, integer: true }) ?? (kind === 'chat' ? fields.number('max_tokens', { min: 1, integer: true }) : undefined);
  let logprobs: number | undefined;
  if (kind === 'chat') {
    const wanted = fields.boolean('logprobs');
    const top = fields.number('top_logprobs', { min: 0, max: 20, integer: true });
    if (top !== undefined && !wanted) throw badRequest("'top_logprobs' needs 'logprobs': true", 'top_logprobs');
    logprobs = wanted ? (top ?? 0) : undefined;
  } else {
    logprobs = fields.number('logprobs', { min: 0, max: 5, integer: true });
  }
  const seed = fields.number('seed', { integer: true });
  return {
    maxTokens: maxTokens ?? 0,
    temperature: fields.number('temperature', { min: 0, max: 2 }),
    topP: fields.number('top_p', { min: 0, max: 1 }),
    topK: fields.number('top_k', { min: 0, integer: true }) ?? 0,
    repetitionPenalty: fields.number('repetition_penalty', { min: 0.01, max: 10 }),
    presencePenalty: fields.number('presence_penalty', { min: -2, max: 2 }) ?? 0,
    frequencyPenalty: fields.number('frequency_penalty', { min: -2, max: 2 }) ?? 0,
    stop: fields.strings('stop', { maxItems: 4, maxLength: 256 }) ?? [],
    seed: seed === undefined ? undefined : seed >>> 0,
    logprobs,
    ignoreEos: fields.boolean('ignore_eos'),
  };
}

/** OpenAI's finish_reason for the platform's. */
export function finishReason(reason: FinishReason | undefined): 'stop' | 'length' | 'content_filter' | null {
  switch (reason) {
    case FinishReason.FINISH_REASON_LENGTH:
      return 'length';
    case FinishReason.FINISH_REASON_CONTENT_FILTER:
      return 'content_filter';
    case FinishReason.FINISH_REASON_STOP:
    case FinishReason.FINISH_REASON_CANCELLED:
      return 'stop';
    default:
      return null;
  }
}

/** Chat-style logprobs (`choices[].logprobs.content`). */
export function chatLogprobs(items: TokenLogprob[]): { content: unknown[] } | null {
  if (items.length === 0) return null;
  return {
    content: items.map((t) => ({
      token: t.token,
      logprob: t.logprob,
      bytes: [...Buffer.from(t.token, 'utf8')],
      top_logprobs: t.top.map((a) => ({ token: a.token, logprob: a.logprob, bytes: [...Buffer.from(a.token, 'utf8')] })),
    })),
  };
}
