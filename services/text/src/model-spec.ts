/**
 * What the text server needs to know about a model directory: `models/<name>/config.json` (the
 * serving core's schema, plus a `text` section), `tokenizer.json` and `<version>/model.onnx`.
 * Decoder geometry (layers, KV heads, head size) comes from the ONNX graph's `past_key_values.N.*`
 * inputs, so a standard export needs only the context length and end-of-sequence ids in config;
 * a Hugging Face `config.json` copied beside it (`text.hfConfig`) supplies those too.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notFound, ServiceError, Status } from '@aigc/runtime';
import { parseModelConfig, type ModelConfig } from '@aigc/serving';

/** How the continuous batcher runs one generative model. */
export interface SchedulerSpec {
  /** Most sequences in the running batch. */
  maxActive: number;
  /** Token budget of one step: one per decoding sequence plus prefill chunk tokens. */
  maxStepTokens: number;
  /** Longest prefill chunk a sequence processes in one step. */
  prefillChunk: number;
  /** KV-cache budget in tokens over all admitted sequences (prompt + max new tokens each). */
  kvCacheTokens: number;
  /** Tokens a stream may have undelivered before its sequence pauses (backpressure). */
  maxBufferedTokens: number;
}

/** A model directory, read and checked. */
export interface TextModelSpec {
  name: string;
  task: 'generate' | 'embed';
  version: number;
  modelPath: string;
  tokenizerPath: string;
  tokenizerConfigPath?: string;
  serving: ModelConfig;
  /** Most positions a sequence may hold (prompt + completion). */
  contextLength: number;
  /** Ids that end generation. */
  eosTokenIds: number[];
  scheduler: SchedulerSpec;
}

type Json = Record<string, unknown>;
const bad = (model: string, field: string, message: string): ServiceError =>
  new ServiceError(Status.FAILED_PRECONDITION, `model ${model}: config.json text.${field} ${message}`);

/** The repository's `models/` directory, found walking up from this file. */
export function defaultModelRepository(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'models')) && existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return join(dir, 'models');
    dir = dirname(dir);
  }
  return resolve('models');
}

function positiveInt(model: string, raw: Json, field: string, fallback?: number): number {
  const v = raw[field] ?? fallback;
  if (!Number.isInteger(v) || (v as number) < 1) throw bad(model, field, `must be an integer >= 1 (got ${JSON.stringify(raw[field])})`);
  return v as number;
}

/** Reads and validates `models/<name>/`; NOT_FOUND when absent, FAILED_PRECONDITION when malformed. */
export function readModelSpec(repository: string, name: string): TextModelSpec {
  const dir = join(repository, name);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw notFound(`model ${name} not found: no ${configPath}`);
  const raw = JSON.parse(readFileSync(configPath, 'utf8')) as Json;
  let serving: ModelConfig;
  try {
    serving = parseModelConfig(raw, name);
  } catch (err) {
    throw new ServiceError(Status.FAILED_PRECONDITION, `model ${name}: config.json ${(err as Error).message}`, { cause: err });
  }
  const text = (raw.text ?? {}) as Json;
  const task = text.task ?? 'generate';
  if (task !== 'generate' && task !== 'embed') throw bad(name, 'task', `must be "generate" or "embed" (got ${JSON.stringify(task)})`);
  const hf = typeof text.hfConfig === 'string' ? (JSON.parse(readFileSync(join(dir, text.hfConfig), 'utf8')) as Json) : {};
  const versions = readdirSync(dir).filter((v) => /^\d+$/.test(v) && existsSync(join(dir, v, 'model.onnx'))).map(Number);
  const version = serving.version ?? Math.max(...versions);
  if (!versions.includes(version)) throw notFound(`model ${name} has no ${version}/model.onnx in ${dir}`);
  const tokenizerPath = join(dir, typeof text.tokenizer === 'string' ? text.tokenizer : 'tokenizer.json');
  if (!existsSync(tokenizerPath)) throw bad(name, 'tokenizer', `names a missing file ${tokenizerPath}`);
  const tokenizerConfigPath = existsSync(join(dir, 'tokenizer_config.json')) ? join(dir, 'tokenizer_config.json') : undefined;

  const contextLength = positiveInt(name, text, 'contextLength', (hf.n_positions ?? hf.max_position_embeddings ?? 512) as number);
  const eosRaw = text.eosTokenIds ?? hf.eos_token_id ?? [];
  const eosTokenIds = (Array.isArray(eosRaw) ? eosRaw : [eosRaw]) as number[];
  if (!eosTokenIds.every((v) => Number.isInteger(v) && v >= 0)) throw bad(name, 'eosTokenIds', `must be token ids (got ${JSON.stringify(eosRaw)})`);
  const s = (text.scheduler ?? {}) as Json;
  const maxActive = positiveInt(name, s, 'maxActive', serving.maxBatchSize || 16);
  const scheduler: SchedulerSpec = {
    maxActive,
    maxStepTokens: positiveInt(name, s, 'maxStepTokens', 256),
    prefillChunk: positiveInt(name, s, 'prefillChunk', 64),
    kvCacheTokens: positiveInt(name, s, 'kvCacheTokens', maxActive * contextLength),
    maxBufferedTokens: positiveInt(name, s, 'maxBufferedTokens', 64),
  };
  return {
    name, task, version, serving, contextLength, eosTokenIds, scheduler, tokenizerPath, tokenizerConfigPath,
    modelPath: join(dir, String(version), 'model.onnx'),
  };
}
