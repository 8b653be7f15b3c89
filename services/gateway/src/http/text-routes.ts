import { badRequest } from './openai-error.js';
import { nowSeconds, sendJson, type RouteContext } from './route-context.js';
import { chatLogprobs, finishReason, samplingFrom } from './sampling.js';
import { EventStream } from './sse.js';

const MAX_PROMPT_CHARS = 256 * 1024;

function messagesFrom(ctx: RouteContext): Array<{ role: string; content: string }> {
  const list = ctx.fields.array('messages', { required: true, maxItems: 1024 })!;
  if (list.length === 0) throw badRequest("'messages' must not be empty", 'messages');
  return list.map((raw, i) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest(`'messages[${i}]' must be an object`, `messages[${i}]`);
    const m = raw as Record<string, unknown>;
    if (!['system', 'developer', 'user', 'assistant'].includes(String(m.role))) {
      throw badRequest(`'messages[${i}].role' must be one of system, developer, user, assistant`, `messages[${i}].role`);
    }
    let content = m.content;
    // Content parts: only text parts are understood by the text models.
    if (Array.isArray(content)) {
      if (content.some((p) => !p || typeof p !== 'object' || (p as { type?: unknown }).type !== 'text' || typeof (p as { text?: unknown }).text !== 'string')) {
        throw badRequest(`'messages[${i}].content' parts must be text parts`, `messages[${i}].content`);
      }
      content = content.map((p) => (p as { text: string }).text).join('');
    }
    if (typeof content !== 'string') throw badRequest(`'messages[${i}].content' must be a string`, `messages[${i}].content`);
    if (content.length > MAX_PROMPT_CHARS) throw badRequest(`'messages[${i}].content' is too long`, `messages[${i}].content`);
    return { role: m.role === 'developer' ? 'system' : String(m.role), content };
  });
}

const usageJson = (u: { promptTokens: number; completionTokens: number } | undefined) => ({
  prompt_tokens: u?.promptTokens ?? 0,
  completion_tokens: u?.completionTokens ?? 0,
  total_tokens: (u?.promptTokens ?? 0) + (u?.completionTokens ?? 0),
});

/** POST /v1/chat/completions, streamed (SSE) or not. */
export async function chatCompletions(ctx: RouteContext): Promise<void> {
  const model = ctx.fields.string('model', { required: true, maxLength: 256 })!;
  const messages = messagesFrom(ctx);
  const sampling = samplingFrom(ctx.fields, 'chat');
  const stream = ctx.fields.boolean('stream') ?? false;
  const includeUsage = stream && ctx.fields.object('stream_options')?.include_usage === true;
  ctx.fields.string('user', { maxLength: 256 });
  const request = { model, messages, sampling, priority: 0 };
  const id = `chatcmpl-${ctx.requestId}`;
  const created = nowSeconds();

  if (!stream) {
    const { response: res, rate } = await ctx.core.unary('chat', request, ctx.call);
    ctx.responseHeaders(rate);
    sendJson(ctx.res, 200, {
      id,
      object: 'chat.completion',
      created,
      model: res.model || model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: res.message?.content ?? '', refusal: null },
          logprobs: chatLogprobs(res.logprobs),
          finish_reason: finishReason(res.finishReason) ?? 'stop',
        },
      ],
      usage: usageJson(res.usage),
    });
    return;
  }

  const events = new EventStream(ctx.res, ctx.call.signal!);
  const chunk = (delta: Record<string, unknown>, finish: string | null, logprobs: unknown = null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, logprobs, finish_reason: finish }],
  });
  const { responses: calls, rate } = await ctx.core.stream('chatStream', request, ctx.call);
  ctx.responseHeaders(rate);
  // The first response decides the HTTP status: errors before it are plain HTTP errors.
  const first = await calls.next();
  await events.send(chunk({ role: 'assistant', content: '' }, null));
  let usage: ReturnType<typeof usageJson> | undefined;
  for (let next = first; !next.done; next = await calls.next()) {
    const part = next.value;
    const finish = finishReason(part.finishReason);
    if (part.delta || part.logprobs.length > 0) await events.send(chunk({ content: part.delta }, null, chatLogprobs(part.logprobs)));
    if (finish) await events.send(chunk({}, finish));
    if (part.usage) usage = usageJson(part.usage);
  }
  if (includeUsage) await events.send({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: usage ?? usageJson(undefined) });
  events.done();
}

/** POST /v1/completions, streamed (SSE) or not. */
export async function completions(ctx: RouteContext): Promise<void> {
  const model = ctx.fields.string('model', { required: true, maxLength: 256 })!;
  const prompts = ctx.fields.strings('prompt', { required: true, maxLength: MAX_PROMPT_CHARS })!;
  if (prompts.length !== 1) throw badRequest("'prompt' must be one string: batches of prompts are not supported", 'prompt');
  if (ctx.fields.boolean('echo')) throw badRequest("'echo' is not supported", 'echo');
  const sampling = samplingFrom(ctx.fields, 'completion');
  const stream = ctx.fields.boolean('stream') ?? false;
  const includeUsage = stream && ctx.fields.object('stream_options')?.include_usage === true;
  const request = { model, prompt: prompts[0]!, sampling, priority: 0 };
  const id = `cmpl-${ctx.requestId}`;
  const created = nowSeconds();

  if (!stream) {
    const { response: res, rate } = await ctx.core.unary('complete', request, ctx.call);
    ctx.responseHeaders(rate);
    sendJson(ctx.res, 200, {
      id,
      object: 'text_completion',
      created,
      model: res.model || model,
      choices: [{ index: 0, text: res.text, logprobs: null, finish_reason: finishReason(res.finishReason) ?? 'stop' }],
      usage: usageJson(res.usage),
    });
    return;
  }

  const events = new EventStream(ctx.res, ctx.call.signal!);
  const { responses: calls, rate } = await ctx.core.stream('completeStream', request, ctx.call);
  ctx.responseHeaders(rate);
  const first = await calls.next();
  let usage: ReturnType<typeof usageJson> | undefined;
  for (let next = first; !next.done; next = await calls.next()) {
    const part = next.value;
    const finish = finishReason(part.finishReason);
    if (part.delta || finish) {
      await events.send({ id, object: 'text_completion', created, model, choices: [{ index: 0, text: part.delta, logprobs: null, finish_reason: finish }] });
    }
    if (part.usage) usage = usageJson(part.usage);
  }
  if (includeUsage) await events.send({ id, object: 'text_completion', created, model, choices: [], usage: usage ?? usageJson(undefined) });
  events.done();
}
