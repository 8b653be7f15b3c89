/**
 * Prometheus metrics of the serving core, per model, registered in a `Registry` the service
 * injects. Names are documented in `libs/serving/README.md`.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BatcherObserver } from './dynamic-batcher.js';

/** What the gauges read from a model at scrape time. */
export interface ModelLoad {
  queueDepth: number;
  inFlight: number;
  overloaded: boolean;
  instances: number;
  /** Cumulative busy milliseconds over all instances. */
  busyTimeMs: number;
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One set of serving metrics in one registry; create once per registry. */
export class ServingMetrics {
  private readonly queueSeconds: Histogram<'model'>;
  private readonly computeSeconds: Histogram<'model'>;
  private readonly batchSize: Histogram<'model'>;
  private readonly succeeded: Counter<'model'>;
  private readonly failed: Counter<'model' | 'code'>;
  private readonly rejected: Counter<'model' | 'reason'>;
  private readonly sources = new Map<string, () => ModelLoad | undefined>();
  private readonly lastBusy = new Map<string, { at: number; busy: number }>();

  constructor(registry: Registry, prefix = 'aigc_serving_') {
    const registers = [registry];
    this.queueSeconds = new Histogram({ name: `${prefix}queue_duration_seconds`, help: 'Time a request waited in the batch queue', labelNames: ['model'], buckets: SECONDS, registers });
    this.computeSeconds = new Histogram({ name: `${prefix}compute_duration_seconds`, help: 'Time one batch took to run (assembly, worker, session.run, split)', labelNames: ['model'], buckets: SECONDS, registers });
    this.batchSize = new Histogram({ name: `${prefix}batch_size`, help: 'Rows per executed batch', labelNames: ['model'], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers });
    this.succeeded = new Counter({ name: `${prefix}requests_succeeded_total`, help: 'Requests answered with outputs', labelNames: ['model'], registers });
    this.failed = new Counter({ name: `${prefix}requests_failed_total`, help: 'Requests whose batch failed', labelNames: ['model', 'code'], registers });
    this.rejected = new Counter({ name: `${prefix}requests_rejected_total`, help: 'Requests that never ran: queue_full, expired, cancelled, closed', labelNames: ['model', 'reason'], registers });
    const read = (fn: (model: string, load: ModelLoad) => number) =>
      function (this: Gauge<'model'>, sources: Map<string, () => ModelLoad | undefined>) {
        this.reset();
        for (const [model, source] of sources) {
          const load = source();
          if (load) this.set({ model }, fn(model, load));
        }
      };
    const sources = this.sources;
    const gauge = (name: string, help: string, fn: (model: string, load: ModelLoad) => number) => {
      const collect = read(fn);
      new Gauge({ name: `${prefix}${name}`, help, labelNames: ['model'], registers, collect(this: Gauge<'model'>) { collect.call(this, sources); } });
    };
    gauge('queue_depth', 'Requests waiting in the batch queues', (_, l) => l.queueDepth);
    gauge('inflight_requests', 'Requests inside running batches', (_, l) => l.inFlight);
    gauge('overloaded', '1 while the model queues stay saturated (readiness hint)', (_, l) => (l.overloaded ? 1 : 0));
    gauge('instance_utilization', 'Fraction of instance time busy since the previous scrape', (model, l) => this.utilization(model, l));
  }

  /** Batcher hooks that feed this model's histograms and counters. */
  observerFor(model: string): BatcherObserver {
    return {
      rejected: (reason) => this.rejected.inc({ model, reason }),
      batchStarted: ({ size, queueMs }) => {
        this.batchSize.observe({ model }, size);
        for (const ms of queueMs) this.queueSeconds.observe({ model }, ms / 1000);
      },
      batchFinished: ({ computeMs }) => this.computeSeconds.observe({ model }, computeMs / 1000),
      completed: (error) => (error ? this.failed.inc({ model, code: String(error.code) }) : this.succeeded.inc({ model })),
    };
  }

  /** Reads `source` at every scrape for the model's gauges; `source` may return undefined when unloaded. */
  track(model: string, source: () => ModelLoad | undefined): void {
    this.sources.set(model, source);
  }

  /** Stops reporting gauges of a model. */
  untrack(model: string): void {
    this.sources.delete(model);
    this.lastBusy.delete(model);
  }

  private utilization(model: string, load: ModelLoad): number {
    const now = performance.now();
    const last = this.lastBusy.get(model);
    this.lastBusy.set(model, { at: now, busy: load.busyTimeMs });
    if (!last || load.busyTimeMs < last.busy || now <= last.at) return 0;
    return Math.min(1, (load.busyTimeMs - last.busy) / ((now - last.at) * Math.max(1, load.instances)));
  }
}
