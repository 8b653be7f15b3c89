/**
 * The model repository: `<root>/<name>/config.json` plus `<root>/<name>/<version>/model.onnx`.
 * Loads, unloads and reloads models at run time; a reload opens the new version first and swaps
 * it in only once it serves, so in-flight requests finish on the old one and a failed reload
 * leaves the old one serving.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, invalidArgument, notFound, ServiceError } from '@aigc/runtime';
import { silentLogger, type Logger } from './logger.js';
import { ModelConfigError, parseModelConfig, type ModelConfig } from './model-config.js';
import { ServedModel, type InferOptions } from './served-model.js';
import type { ServingMetrics } from './serving-metrics.js';
import type { TensorMap } from './tensor.js';

/** Options of a {@link ModelRepository}. */
export interface ModelRepositoryOptions {
  /** Directory holding one folder per model. */
  root: string;
  logger?: Logger;
  /** Per-model metrics; none when absent. */
  metrics?: ServingMetrics;
}

/** A loaded model as listed by {@link ModelRepository.list}. */
export interface ModelIndexEntry {
  name: string;
  version: number;
  queueDepth: number;
  inFlight: number;
  overloaded: boolean;
}

/** Models by name, loaded from a directory; see the module comment. */
export class ModelRepository {
  private readonly models = new Map<string, ServedModel>();
  private readonly loading = new Map<string, Promise<ServedModel>>();
  private readonly retiring = new Set<Promise<void>>();
  private readonly logger: Logger;
  private closed = false;

  constructor(private readonly options: ModelRepositoryOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /** Names of the model folders under the root that have a `config.json`. */
  async available(): Promise<string[]> {
    const entries = await readdir(this.options.root, { withFileTypes: true });
    const names: string[] = [];
    for (const e of entries) {
      if (e.isDirectory() && (await exists(join(this.options.root, e.name, 'config.json')))) names.push(e.name);
    }
    return names.sort();
  }

  /** Loads every available model. */
  async loadAll(): Promise<void> {
    for (const name of await this.available()) await this.load(name);
  }

  /**
   * Loads a model, or reloads it when already loaded: the new version opens while the old one
   * serves; once it is ready it takes new requests and the old one drains and closes. On any
   * failure the old version keeps serving and the error names the cause.
   */
  async load(name: string, options: { version?: number } = {}): Promise<ServedModel> {
    if (this.closed) throw failedPrecondition('model repository is closed');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw invalidArgument(`bad model name "${name}"`);
    // One load of a name at a time: a second waits for the first, then loads again.
    const previous = this.loading.get(name);
    if (previous) await previous.catch(() => undefined);
    const attempt = this.open(name, options.version);
    this.loading.set(name, attempt);
    try {
      const model = await attempt;
      const old = this.models.get(name);
      this.models.set(name, model);
      this.options.metrics?.track(name, () => {
        const m = this.models.get(name);
        return m && { queueDepth: m.queueDepth, inFlight: m.inFlight, overloaded: m.overloaded, instances: m.executor.instanceCount, busyTimeMs: m.executor.busyTimeMs() };
      });
      if (old) this.retire(old);
      this.logger.info(old ? 'model reloaded' : 'model loaded', { model: name, version: model.version, previous: old?.version });
      return model;
    } catch (err) {
      this.logger.warn('model load failed', { model: name, error: err instanceof Error ? err.message : String(err), serving: this.models.get(name)?.version });
      throw err;
    } finally {
      if (this.loading.get(name) === attempt) this.loading.delete(name);
    }
  }

  /** Same as {@link load} for a loaded model: swap in the config and version now on disk. */
  reload(name: string, options: { version?: number } = {}): Promise<ServedModel> {
    return this.load(name, options);
  }

  /** Stops routing to a model; its queued and running requests finish before its sessions close. */
  async unload(name: string): Promise<void> {
    const model = this.models.get(name);
    if (!model) throw notFound(`model ${name} is not loaded`);
    this.models.delete(name);
    this.options.metrics?.untrack(name);
    await this.retire(model);
    this.logger.info('model unloaded', { model: name, version: model.version });
  }

  /** The serving model of that name (and version, when given); NOT_FOUND otherwise. */
  get(name: string, version?: number | string): ServedModel {
    const model = this.models.get(name);
    if (!model) throw notFound(`model ${name} is not loaded`);
    if (version !== undefined && version !== '' && String(version) !== String(model.version)) {
      throw notFound(`model ${name} version ${version} is not loaded (serving ${model.version})`);
    }
    return model;
  }

  /** True when that model (and version) is serving. */
  has(name: string, version?: number | string): boolean {
    try {
      this.get(name, version);
      return true;
    } catch {
      return false;
    }
  }

  /** Routes one request to the model now serving `name`. */
  infer(name: string, inputs: TensorMap, options: InferOptions & { version?: number | string } = {}): Promise<TensorMap> {
    try {
      return this.get(name, options.version).infer(inputs, options);
    } catch (err) {
      return Promise.reject(ServiceError.from(err));
    }
  }

  /** The loaded models and their load. */
  list(): ModelIndexEntry[] {
    return [...this.models.values()].map((m) => ({ name: m.name, version: m.version, queueDepth: m.queueDepth, inFlight: m.inFlight, overloaded: m.overloaded }));
  }

  /** True while any model's queues stay saturated: the readiness hint for load balancers. */
  get overloaded(): boolean {
    return [...this.models.values()].some((m) => m.overloaded);
  }

  /** Ready to take traffic: open and not overloaded. */
  get ready(): boolean {
    return !this.closed && !this.overloaded;
  }

  /** Unloads everything (draining each model) and refuses further loads. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.loading.values()]);
    const models = [...this.models.values()];
    this.models.clear();
    for (const m of models) this.options.metrics?.untrack(m.name);
    await Promise.all([...models.map((m) => this.retire(m)), ...this.retiring]);
  }

  private retire(model: ServedModel): Promise<void> {
    const done = model.unload().catch((err: unknown) => this.logger.error('model did not close cleanly', { model: model.name, error: String(err) }));
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
    return done;
  }

  private async open(name: string, wantedVersion?: number): Promise<ServedModel> {
    const dir = join(this.options.root, name);
    const config = await this.readConfig(name, dir);
    const version = wantedVersion ?? config.version ?? (await latestVersion(dir, name));
    const modelPath = join(dir, String(version), 'model.onnx');
    if (!(await exists(modelPath))) throw notFound(`model ${name} has no version ${version} (${modelPath} is missing)`);
    return ServedModel.load({ config, version, modelPath, logger: this.logger, observer: this.options.metrics?.observerFor(name) });
  }

  private async readConfig(name: string, dir: string): Promise<ModelConfig> {
    const file = join(dir, 'config.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw notFound(`model ${name} not found in the repository (${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw invalidArgument(`${file} is not valid JSON: ${(err as Error).message}`, err);
    }
    try {
      return parseModelConfig(raw, name);
    } catch (err) {
      if (err instanceof ModelConfigError) throw invalidArgument(`${file}: ${err.message}`, err);
      throw err;
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function latestVersion(dir: string, name: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true });
  const versions = entries.filter((e) => e.isDirectory() && /^[1-9][0-9]*$/.test(e.name)).map((e) => Number(e.name));
  if (versions.length === 0) throw notFound(`model ${name} has no numbered version directory`);
  return Math.max(...versions);
}
