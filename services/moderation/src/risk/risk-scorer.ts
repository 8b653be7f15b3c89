/**
 * The risk model as a scorer: a small ONNX text classifier served by `@aigc/serving` (worker-thread
 * sessions behind a dynamic batcher, so concurrent checks share batches). Scores each category
 * of the model's labels in [0, 1].
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@aigc/runtime';
import { ModelRepository, toNumbers, type ServedModel } from '@aigc/serving';
import { RiskFeaturizer } from './features.js';

/** Per-category probabilities from the model. */
export type RiskScores = Record<string, number>;

/** See the module comment. */
export class RiskScorer {
  private constructor(
    /** The repository holding the model; the server exposes it over the Open Inference Protocol. */
    readonly repository: ModelRepository,
    private readonly model: ServedModel,
    /** Output index -> category; `safe` is not a risk category. */
    readonly labels: readonly string[],
    private readonly featurizer: RiskFeaturizer,
  ) {}

  /** Loads `name` from the model repository at `root`. */
  static async load(root: string, name: string, logger: Logger): Promise<RiskScorer> {
    const repository = new ModelRepository({ root, logger: logger.child({ component: 'serving' }) });
    const model = await repository.load(name);
    const config = JSON.parse(await readFile(join(root, name, 'config.json'), 'utf8')) as { labels?: unknown };
    if (!Array.isArray(config.labels) || !config.labels.every((l) => typeof l === 'string')) {
      await repository.close();
      throw new Error(`models/${name}/config.json needs "labels": the category of each output`);
    }
    return new RiskScorer(repository, model, config.labels as string[], new RiskFeaturizer());
  }

  /** Model name and version, for logs and the model card. */
  get version(): string {
    return `${this.model.name}/${this.model.version}`;
  }

  /** Scores `text`; joins a batch with other concurrent calls. */
  async score(text: string, options: { signal?: AbortSignal; deadline?: number } = {}): Promise<RiskScores> {
    const ids = this.featurizer.featurize(text);
    const out = await this.model.infer({ input_ids: { type: 'int64', data: ids, dims: [1, ids.length] } }, { signal: options.signal, deadline: options.deadline });
    const probs = toNumbers(out['probs']!);
    const scores: RiskScores = {};
    this.labels.forEach((label, i) => {
      if (label !== 'safe') scores[label] = probs[i] ?? 0;
    });
    return scores;
  }

  /** Unloads the model (finishes queued requests first). */
  close(): Promise<void> {
    return this.repository.close();
  }
}
