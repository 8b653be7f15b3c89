import { AudioFormat, CheckRequest, CheckStage, Modality, ModerationMode, Verdict } from '@aigc/proto';
import { badRequest, HttpError } from './openai-error.js';
import { nowSeconds, sendJson, type RouteContext } from './route-context.js';

/** POST /v1/embeddings: `encoding_format` float or base64 (little-endian float32, as OpenAI sends). */
export async function embeddings(ctx: RouteContext): Promise<void> {
  const model = ctx.fields.string('model', { required: true, maxLength: 256 })!;
  const inputs = ctx.fields.strings('input', { required: true, maxItems: 2048, maxLength: 64 * 1024 });
  if (!inputs) throw badRequest("'input' must be a string or an array of strings (token arrays are not supported)", 'input');
  if (inputs.length === 0 || inputs.some((s) => s.length === 0)) throw badRequest("'input' must not be empty", 'input');
  const format = ctx.fields.oneOf('encoding_format', ['float', 'base64'] as const) ?? 'float';
  if (ctx.fields.number('dimensions', { min: 1, integer: true }) !== undefined) throw badRequest("'dimensions' is not supported by this model", 'dimensions');
  const { response: res, rate } = await ctx.core.unary('embed', { model, inputs, priority: 0, reservationId: '' }, ctx.call);
  ctx.responseHeaders(rate);
  sendJson(ctx.res, 200, {
    object: 'list',
    model: res.model || model,
    data: res.embeddings.map((e, index) => ({
      object: 'embedding',
      index,
      embedding: format === 'base64' ? Buffer.from(Float32Array.from(e.values).buffer).toString('base64') : e.values,
    })),
    usage: { prompt_tokens: res.usage?.promptTokens ?? 0, total_tokens: res.usage?.promptTokens ?? 0 },
  });
}

/** POST /v1/images/generations: images come back as `b64_json` (there is no file store for `url`). */
export async function imageGenerations(ctx: RouteContext): Promise<void> {
  const prompt = ctx.fields.string('prompt', { required: true, maxLength: 4000 })!;
  if (prompt.trim() === '') throw badRequest("'prompt' must not be empty", 'prompt');
  const model = ctx.fields.string('model', { maxLength: 256 }) ?? '';
  const n = ctx.fields.number('n', { min: 1, max: 10, integer: true }) ?? 1;
  const size = ctx.fields.string('size');
  let width = 0;
  let height = 0;
  if (size !== undefined && size !== 'auto') {
    const match = /^(\d{1,5})x(\d{1,5})$/.exec(size);
    if (!match) throw badRequest(`'size' must look like 256x256, got ${JSON.stringify(size)}`, 'size');
    width = Number(match[1]);
    height = Number(match[2]);
  }
  const format = ctx.fields.oneOf('response_format', ['b64_json', 'url'] as const) ?? 'b64_json';
  if (format === 'url') throw badRequest("'response_format' url is not supported; use b64_json", 'response_format');
  const request = {
    model,
    prompt,
    negativePrompt: ctx.fields.string('negative_prompt', { maxLength: 4000 }) ?? '',
    width,
    height,
    steps: ctx.fields.number('steps', { min: 1, max: 1000, integer: true }) ?? 0,
    guidanceScale: ctx.fields.number('guidance_scale', { min: 0, max: 50 }),
    seed: ctx.fields.number('seed', { min: 0, integer: true }),
    n,
    scheduler: 0,
    priority: 0,
    preview: false,
    reservationId: '',
  };
  const images: string[] = [];
  const { responses, rate } = await ctx.core.stream('generateImage', request, ctx.call);
  ctx.responseHeaders(rate);
  for await (const event of responses) {
    if (event.event?.$case === 'image') images[event.event.image.imageIndex] = Buffer.from(event.event.image.png).toString('base64');
  }
  sendJson(ctx.res, 200, { created: nowSeconds(), data: images.map((b64) => ({ b64_json: b64 })) });
}

const SPEECH_FORMATS = { wav: AudioFormat.AUDIO_FORMAT_WAV, pcm: AudioFormat.AUDIO_FORMAT_PCM } as const;

/** POST /v1/audio/speech: WAV (16-bit PCM) or raw PCM; compressed formats are refused clearly. */
export async function speech(ctx: RouteContext): Promise<void> {
  const model = ctx.fields.string('model', { required: true, maxLength: 256 })!;
  const input = ctx.fields.string('input', { required: true, maxLength: 4096 })!;
  if (input.trim() === '') throw badRequest("'input' must not be empty", 'input');
  const voice = ctx.fields.string('voice', { maxLength: 64 }) ?? '';
  const format = ctx.fields.string('response_format') ?? 'wav';
  if (!(format in SPEECH_FORMATS)) throw badRequest(`'response_format' ${JSON.stringify(format)} is not supported; use wav or pcm`, 'response_format');
  const speed = ctx.fields.number('speed', { min: 0.25, max: 4 });
  const speaker = /^\d+$/.test(voice) ? Number(voice) : 0;
  const { response: res, rate } = await ctx.core.unary(
    'synthesize',
    { model, text: input, language: '', speakerId: speaker, speed, noiseScale: undefined, format: SPEECH_FORMATS[format as keyof typeof SPEECH_FORMATS], priority: 0, reservationId: '' },
    ctx.call,
  );
  ctx.responseHeaders(rate);
  const audio = Buffer.from(res.audio);
  ctx.res.writeHead(200, { 'content-type': format === 'wav' ? 'audio/wav' : 'audio/pcm', 'content-length': audio.length });
  ctx.res.end(audio);
}

/** POST /v1/moderations: one result per input, with per-category flags and scores. */
export async function moderations(ctx: RouteContext): Promise<void> {
  const inputs = ctx.fields.strings('input', { required: true, maxItems: 32, maxLength: 1024 * 1024 })!;
  const model = ctx.fields.string('model', { maxLength: 256 }) ?? 'aigc-moderation';
  const results = [];
  for (const text of inputs) {
    const request = CheckRequest.fromPartial({ text, stage: CheckStage.CHECK_STAGE_INPUT, mode: ModerationMode.MODERATION_MODE_FLAG });
    const { response: res, rate } = await ctx.core.unary('moderate', request, ctx.call);
    ctx.responseHeaders(rate);
    const categories: Record<string, boolean> = {};
    const scores: Record<string, number> = {};
    for (const s of res.scores) scores[s.category] = s.score;
    for (const f of res.findings) categories[f.category] = true;
    for (const c of Object.keys(scores)) categories[c] ??= false;
    results.push({ flagged: res.verdict !== Verdict.VERDICT_ALLOW, categories, category_scores: scores });
  }
  sendJson(ctx.res, 200, { id: `modr-${ctx.requestId}`, model, results });
}

/** GET /v1/models and GET /v1/models/{id}. */
export async function models(ctx: RouteContext): Promise<void> {
  const res = await ctx.orchestrator.unary('listModels', {}, { signal: ctx.call.signal, deadline: ctx.call.deadline });
  const data = res.models.map((m) => ({
    id: m.id,
    object: 'model',
    created: Math.floor(m.createdAtMs / 1000),
    owned_by: m.ownedBy || 'aigc',
    modality: Modality[m.modality]?.replace('MODALITY_', '').toLowerCase(),
  }));
  const id = ctx.params[0];
  if (id === undefined) return sendJson(ctx.res, 200, { object: 'list', data });
  const found = data.find((m) => m.id === id);
  if (!found) throw new HttpError(404, `model ${JSON.stringify(id)} does not exist`, 'invalid_request_error', 'model', 'model_not_found');
  sendJson(ctx.res, 200, found);
}
