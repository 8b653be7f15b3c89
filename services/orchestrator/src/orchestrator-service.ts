import {
  AudioServiceClient,
  ImageServiceClient,
  ModerationServiceClient,
  OrchestratorServiceService,
  TextServiceClient,
  type CompleteRequest,
  type GenerateRequest,
} from '@aigc/proto';
import { callServerStream, callUnary, createClient, forward, ServiceHost, type CallContext, type ConfigOf, type Logger } from '@aigc/runtime';
import { renderChatPrompt } from './chat-prompt.js';
import type { orchestratorConfigSpec } from './config.js';

/** Configuration of the orchestrator. */
export type OrchestratorConfig = ConfigOf<typeof orchestratorConfigSpec>;

/**
 * Starts the orchestrator. Single-step tasks are one call to one model service each, with the
 * caller's deadline, cancellation and platform metadata carried through; workflows, RAG and
 * caches build on these in later issues.
 */
export async function startOrchestratorService(config: OrchestratorConfig, deps: { logger: Logger; metricsPort?: number | null }): Promise<ServiceHost> {
  const text = createClient(TextServiceClient, config.textAddr);
  const image = createClient(ImageServiceClient, config.imageAddr);
  const audio = createClient(AudioServiceClient, config.audioAddr);
  const moderation = createClient(ModerationServiceClient, config.moderationAddr);

  const generate = (request: CompleteRequest, ctx: CallContext) =>
    callUnary(text, 'generate', toGenerate(request, ctx), forward(ctx));
  const generateStream = (request: CompleteRequest, ctx: CallContext) =>
    callServerStream(text, 'generateStream', toGenerate(request, ctx), forward(ctx));

  const host = ServiceHost.fromConfig('orchestrator', config, deps);
  host.addService(OrchestratorServiceService, {
    async complete(request, ctx) {
      const res = await generate(request, ctx);
      return { id: ctx.requestId, model: res.model, text: res.text, finishReason: res.finishReason, usage: res.usage, logprobs: res.logprobs };
    },
    async *completeStream(request, ctx) {
      for await (const chunk of generateStream(request, ctx)) yield { id: ctx.requestId, ...chunk };
    },
    async chat(request, ctx) {
      const res = await generate({ ...request, prompt: renderChatPrompt(request.messages) }, ctx);
      return {
        id: ctx.requestId,
        model: res.model,
        message: { role: 'assistant', content: res.text },
        finishReason: res.finishReason,
        usage: res.usage,
        logprobs: res.logprobs,
      };
    },
    async *chatStream(request, ctx) {
      const prompt = renderChatPrompt(request.messages);
      for await (const chunk of generateStream({ ...request, prompt }, ctx)) yield { id: ctx.requestId, ...chunk };
    },
    embed: (request, ctx) => callUnary(text, 'embed', request, forward(ctx)),
    generateImage: (request, ctx) => callServerStream(image, 'generateImage', request, forward(ctx)),
    synthesize: (request, ctx) => callUnary(audio, 'synthesize', request, forward(ctx)),
    moderate: (request, ctx) => callUnary(moderation, 'check', request, forward(ctx)),
    listModels: (request, ctx) => callUnary(text, 'listModels', request, forward(ctx)),
  });
  host.onShutdown(() => {
    for (const client of [text, image, audio, moderation]) client.close();
  });
  await host.start();
  return host;
}

function toGenerate(request: Pick<CompleteRequest, 'model' | 'prompt' | 'sampling' | 'priority'>, ctx: CallContext): GenerateRequest {
  return {
    model: request.model,
    prompt: request.prompt,
    sampling: request.sampling,
    priority: request.priority,
    reservationId: ctx.reservationId ?? '',
  };
}

