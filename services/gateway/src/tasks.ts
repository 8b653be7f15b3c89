import { Modality, type Usage } from '@aigc/proto';
import type { OrchestratorServiceClient } from '@aigc/proto';
import type { StreamRequestOf, StreamResponseOf, UnaryRequestOf, UnaryResponseOf } from '@aigc/runtime';
import { embeddingEstimate, imageEstimate, speechEstimate, textEstimate, type Estimate } from './admission/estimate.js';

type C = OrchestratorServiceClient;

/** How the gateway admits and meters one kind of task. */
export interface TaskSpec<Req, Res> {
  modality: Modality;
  /** The request with the gateway's defaults filled in (so the estimate is a true worst case). */
  prepare(request: Req, defaults: TaskDefaults): Req;
  model(request: Req): string;
  estimate(request: Req, defaults: TaskDefaults): Estimate;
  /** Input text to pre-filter, or undefined for none. */
  screen(request: Req): string | undefined;
  /** Measured usage in a response (or a stream message), if it carries it. */
  usage(response: Res, request: Req): Partial<Usage> | undefined;
}

/** Gateway defaults that bound worst-case estimates. */
export interface TaskDefaults {
  maxTokens: number;
  imageSteps: number;
  imageSide: number;
}

const withMaxTokens = <R extends { sampling?: { maxTokens: number } | undefined }>(request: R, defaults: TaskDefaults): R => ({
  ...request,
  sampling: { topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [], ...request.sampling, maxTokens: request.sampling?.maxTokens || defaults.maxTokens },
});

const chatText = (messages: Array<{ role: string; content: string }>): string => messages.map((m) => `${m.role}: ${m.content}\n`).join('');

/** Every task the gateway forwards, unary or streaming, by orchestrator method. */
export const TASKS = {
  complete: {
    modality: Modality.MODALITY_TEXT,
    prepare: withMaxTokens,
    model: (r) => r.model,
    estimate: (r) => textEstimate(r.prompt, r.sampling!.maxTokens),
    screen: (r) => r.prompt,
    usage: (r) => r.usage,
  } satisfies TaskSpec<UnaryRequestOf<C['complete']>, UnaryResponseOf<C['complete']>>,
  completeStream: {
    modality: Modality.MODALITY_TEXT,
    prepare: withMaxTokens,
    model: (r) => r.model,
    estimate: (r) => textEstimate(r.prompt, r.sampling!.maxTokens),
    screen: (r) => r.prompt,
    usage: (m) => m.usage,
  } satisfies TaskSpec<StreamRequestOf<C['completeStream']>, StreamResponseOf<C['completeStream']>>,
  chat: {
    modality: Modality.MODALITY_TEXT,
    prepare: withMaxTokens,
    model: (r) => r.model,
    estimate: (r) => textEstimate(chatText(r.messages), r.sampling!.maxTokens),
    screen: (r) => r.messages.map((m) => m.content).join('\n'),
    usage: (r) => r.usage,
  } satisfies TaskSpec<UnaryRequestOf<C['chat']>, UnaryResponseOf<C['chat']>>,
  chatStream: {
    modality: Modality.MODALITY_TEXT,
    prepare: withMaxTokens,
    model: (r) => r.model,
    estimate: (r) => textEstimate(chatText(r.messages), r.sampling!.maxTokens),
    screen: (r) => r.messages.map((m) => m.content).join('\n'),
    usage: (m) => m.usage,
  } satisfies TaskSpec<StreamRequestOf<C['chatStream']>, StreamResponseOf<C['chatStream']>>,
  embed: {
    modality: Modality.MODALITY_EMBEDDING,
    prepare: (r) => r,
    model: (r) => r.model,
    estimate: (r) => embeddingEstimate(r.inputs),
    screen: (r) => r.inputs.join('\n'),
    usage: (r) => r.usage,
  } satisfies TaskSpec<UnaryRequestOf<C['embed']>, UnaryResponseOf<C['embed']>>,
  generateImage: {
    modality: Modality.MODALITY_IMAGE,
    prepare: (r) => r,
    model: (r) => r.model,
    estimate: (r, d) => imageEstimate(r.n, r.steps, r.width, r.height, { steps: d.imageSteps, side: d.imageSide }),
    screen: (r) => [r.prompt, r.negativePrompt].filter(Boolean).join('\n'),
    usage: (m) => (m.event?.$case === 'usage' ? m.event.usage : undefined),
  } satisfies TaskSpec<StreamRequestOf<C['generateImage']>, StreamResponseOf<C['generateImage']>>,
  synthesize: {
    modality: Modality.MODALITY_AUDIO,
    prepare: (r) => r,
    model: (r) => r.model,
    estimate: (r) => speechEstimate(r.text, r.speed),
    screen: (r) => r.text,
    usage: (r) => r.usage,
  } satisfies TaskSpec<UnaryRequestOf<C['synthesize']>, UnaryResponseOf<C['synthesize']>>,
  moderate: {
    modality: Modality.MODALITY_MODERATION,
    prepare: (r) => r,
    model: () => 'moderation',
    estimate: (r) => ({ characters: [...(r.text || '')].length }),
    screen: () => undefined,
    usage: (_, r) => ({ characters: [...(r.text || '')].length }),
  } satisfies TaskSpec<UnaryRequestOf<C['moderate']>, UnaryResponseOf<C['moderate']>>,
};

/** Tasks answered with one response. */
export type UnaryTask = 'complete' | 'chat' | 'embed' | 'synthesize' | 'moderate';
/** Tasks answered with a stream. */
export type StreamTask = 'completeStream' | 'chatStream' | 'generateImage';
