/**
 * Request-level dynamic batching (Triton's dynamic batcher, with its weak spots fixed): bounded
 * priority queues that reject at once, per-request deadlines that expire on their own timers (not
 * at the next batch), removal on cancel, batches bounded by rows and by cost, batches keyed by
 * shape, preferred sizes, ordered responses, and an adaptive queue delay.
 */
import { deadlineExceeded, invalidArgument, resourceExhausted, ServiceError, unavailable } from '@aigc/runtime';
import { LatencyModel } from './latency-model.js';
import { silentLogger, type Logger } from './logger.js';

/** Limits of one priority level's queue. */
export interface QueuePolicy {
  /** Requests this level may hold; one more is rejected at once with RESOURCE_EXHAUSTED. */
  maxQueueSize: number;
  /** Longest a request may wait in the queue; a per-request timeout may only shorten it. */
  defaultTimeoutMs?: number;
}

/** Why a request left without running. */
export type RejectReason = 'queue_full' | 'expired' | 'cancelled' | 'closed';

/** Hooks for metrics; every method optional. */
export interface BatcherObserver {
  /** A request was rejected or left the queue without running. */
  rejected?(reason: RejectReason): void;
  /** A batch was handed to the runner; `queueMs` has one entry per request. */
  batchStarted?(batch: { size: number; requests: number; cost: number; queueMs: number[] }): void;
  /** A batch finished (`ok` false when the runner threw). */
  batchFinished?(batch: { size: number; computeMs: number; ok: boolean }): void;
  /** A request that ran got its answer (`error` set when it failed). */
  completed?(error?: ServiceError): void;
}

/** Options of a {@link DynamicBatcher}. */
export interface DynamicBatcherOptions<I, O> {
  /** Runs one batch; must return one output per input, in order. */
  runBatch: (inputs: I[]) => Promise<O[]>;
  /** Used in messages and logs. */
  name?: string;
  /** Most rows in one batch (a request may carry several rows). */
  maxBatchSize: number;
  /** Most cost units in one batch (e.g. tokens); unlimited when absent. */
  maxBatchCost?: number;
  /** `sum`: cost of a batch is the sum of row costs; `padded`: rows times the largest row cost. */
  costMode?: 'sum' | 'padded';
  /** Longest the oldest request waits for a batch to fill; default 0. */
  maxQueueDelayMs?: number;
  /** Batch sizes to dispatch at once when reached. */
  preferredBatchSizes?: number[];
  /** Priority levels, 1 = highest; default 1. */
  priorityLevels?: number;
  /** Level of requests that give none (or 0); default the lowest. */
  defaultPriority?: number;
  /** Queue policy for every level, or one per level (index 0 = level 1). */
  queuePolicy?: QueuePolicy | QueuePolicy[];
  /** Answer requests in arrival order. */
  preserveOrdering?: boolean;
  /** Batches running at once (the executor's instance count); default 1. */
  maxConcurrentBatches?: number;
  /** Choose the queue delay (up to `maxQueueDelayMs`) from measured latency to meet a target. */
  adaptive?: { targetLatencyMs: number };
  /** Overload signal: depth over `threshold` of capacity for `holdMs` marks the batcher overloaded. */
  saturation?: { threshold?: number; holdMs?: number };
  observer?: BatcherObserver;
  logger?: Logger;
}

/** Options of one {@link DynamicBatcher.submit}. */
export interface SubmitOptions {
  /** 1 = highest; 0 or absent = the default level. */
  priority?: number;
  /** Queue timeout for this request; only shortens the level's default. */
  timeoutMs?: number;
  /** Absolute deadline (epoch ms, `Date.now()` clock); the request never runs after it. */
  deadline?: number;
  /** Fires on client cancel or deadline; the request leaves the queue at once. */
  signal?: AbortSignal;
  /** Rows this request adds to a batch; default 1. */
  size?: number;
  /** Cost per row (e.g. tokens); default 1. */
  cost?: number;
  /** Only requests with equal keys share a batch (shape buckets); default ''. */
  key?: string;
}

interface Entry<I, O> {
  input: I;
  size: number;
  cost: number;
  key: string;
  level: number;
  seq: number;
  enqueuedAt: number;
  state: 'queued' | 'running' | 'done';
  timer?: NodeJS.Timeout;
  signal?: AbortSignal;
  onAbort?: () => void;
  outcome?: () => void;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

const DEFAULT_POLICY: QueuePolicy = { maxQueueSize: 1024 };

/** Groups requests into batches for a runner; see the module comment for the controls. */
export class DynamicBatcher<I, O> {
  private readonly levels: Entry<I, O>[][];
  private readonly policies: QueuePolicy[];
  private readonly order: Entry<I, O>[] = [];
  private readonly latency = new LatencyModel();
  private readonly logger: Logger;
  private running = 0;
  private runningRequests = 0;
  private seq = 0;
  private depth = 0;
  private delayTimer: NodeJS.Timeout | undefined;
  private delayTimerAt = Infinity;
  private pumpScheduled = false;
  private draining = false;
  private drainWaiters: Array<() => void> = [];
  private saturatedSince: number | undefined;
  private adaptiveDelay = 0;

  constructor(private readonly options: DynamicBatcherOptions<I, O>) {
    const levels = options.priorityLevels ?? 1;
    if (!(options.maxBatchSize >= 1)) throw new RangeError('maxBatchSize must be at least 1');
    this.levels = Array.from({ length: levels }, () => []);
    const policy = options.queuePolicy ?? DEFAULT_POLICY;
    this.policies = Array.from({ length: levels }, (_, i) => (Array.isArray(policy) ? (policy[i] ?? policy[policy.length - 1] ?? DEFAULT_POLICY) : policy));
    this.logger = options.logger ?? silentLogger;
  }

  /** Requests waiting in the queues. */
  get queueDepth(): number {
    return this.depth;
  }

  /** Requests inside running batches. */
  get inFlight(): number {
    return this.runningRequests;
  }

  /** Total queue capacity over all levels. */
  get capacity(): number {
    return this.policies.reduce((sum, p) => sum + p.maxQueueSize, 0);
  }

  /** The queue delay in force now (adaptive mode changes it as it measures). */
  get queueDelayMs(): number {
    return this.options.adaptive ? this.adaptiveDelay : (this.options.maxQueueDelayMs ?? 0);
  }

  /** True while queues have stayed saturated for the configured hold time. */
  get overloaded(): boolean {
    const hold = this.options.saturation?.holdMs ?? 500;
    return this.saturatedSince !== undefined && performance.now() - this.saturatedSince >= hold;
  }

  /** Queues a request; resolves with its output once its batch ran. */
  submit(input: I, options: SubmitOptions = {}): Promise<O> {
    const name = this.options.name ?? 'model';
    if (this.draining) return Promise.reject(this.reject('closed', unavailable(`${name} is unloading`, 50)));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(this.reject('cancelled', ServiceError.from(signal.reason)));
    const levels = this.levels.length;
    const priority = options.priority || (this.options.defaultPriority ?? levels);
    if (!Number.isInteger(priority) || priority < 1 || priority > levels) {
      return Promise.reject(invalidArgument(`priority must be between 1 and ${levels} for ${name} (got ${options.priority})`));
    }
    const size = options.size ?? 1;
    if (size > this.options.maxBatchSize) {
      return Promise.reject(invalidArgument(`batch of ${size} exceeds max batch size ${this.options.maxBatchSize} of ${name}`));
    }
    const level = priority - 1;
    const policy = this.policies[level]!;
    if (this.levels[level]!.length >= policy.maxQueueSize) {
      const retry = this.retryAfterMs(level);
      return Promise.reject(this.reject('queue_full', resourceExhausted(`queue of ${name} at priority ${priority} is full (${policy.maxQueueSize})`, retry)));
    }
    const now = performance.now();
    let timeout = policy.defaultTimeoutMs ?? Infinity;
    if (options.timeoutMs !== undefined && options.timeoutMs > 0) timeout = Math.min(timeout, options.timeoutMs);
    if (options.deadline !== undefined) timeout = Math.min(timeout, options.deadline - Date.now());
    if (timeout <= 0) return Promise.reject(this.reject('expired', deadlineExceeded(`deadline of the request to ${name} passed before it was queued`)));
    this.latency.observeArrival(now);

    return new Promise<O>((resolve, reject) => {
      const entry: Entry<I, O> = {
        input,
        size,
        cost: options.cost ?? 1,
        key: options.key ?? '',
        level,
        seq: this.seq++,
        enqueuedAt: now,
        state: 'queued',
        signal,
        resolve,
        reject,
      };
      if (Number.isFinite(timeout)) {
        entry.timer = setTimeout(() => this.expire(entry), timeout);
      }
      if (signal) {
        entry.onAbort = () => this.abandon(entry, 'cancelled', ServiceError.from(signal.reason));
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.levels[level]!.push(entry);
      if (this.options.preserveOrdering) this.order.push(entry);
      this.setDepth(this.depth + 1);
      this.schedulePump();
    });
  }

  /** Stops taking requests, runs everything queued without waiting for batches to fill, resolves when idle. */
  drain(): Promise<void> {
    this.draining = true;
    this.schedulePump();
    if (this.depth === 0 && this.running === 0) return Promise.resolve();
    return new Promise<void>((r) => this.drainWaiters.push(r));
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Coalesce: requests submitted in the same tick can share a batch.
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Dispatches batches while a runner slot is free and a batch is due. */
  private pump(): void {
    const concurrency = this.options.maxConcurrentBatches ?? 1;
    while (this.running < concurrency && this.depth > 0) {
      const batch = this.formBatch(performance.now());
      if (!batch) return;
      this.launch(batch);
    }
    if (this.depth === 0) this.clearDelayTimer();
  }

  private formBatch(now: number): Entry<I, O>[] | undefined {
    const head = this.levels.find((l) => l.length > 0)?.[0];
    if (!head) return undefined;
    const { maxBatchSize, maxBatchCost, costMode = 'sum', preferredBatchSizes } = this.options;
    const picked: Entry<I, O>[] = [];
    let rows = 0;
    let cost = 0;
    let maxRowCost = 0;
    let full = false;
    let oldest = Infinity;
    outer: for (const level of this.levels) {
      for (const e of level) {
        if (e.key !== head.key) continue;
        const nextRows = rows + e.size;
        const nextMax = Math.max(maxRowCost, e.cost);
        const nextCost = costMode === 'padded' ? nextRows * nextMax : cost + e.size * e.cost;
        if (nextRows > maxBatchSize || (maxBatchCost !== undefined && picked.length > 0 && nextCost > maxBatchCost)) {
          full = true;
          break outer;
        }
        picked.push(e);
        rows = nextRows;
        cost = nextCost;
        maxRowCost = nextMax;
        oldest = Math.min(oldest, e.enqueuedAt);
        if (rows === maxBatchSize) {
          full = true;
          break outer;
        }
      }
    }
    if (full || this.draining) return picked;
    if (preferredBatchSizes && preferredBatchSizes.length > 0) {
      if (preferredBatchSizes.includes(rows)) return picked;
      const largest = Math.max(...preferredBatchSizes);
      if (rows > largest) {
        while (picked.length > 1 && rows > largest) rows -= picked.pop()!.size;
        return picked;
      }
    }
    const due = oldest + this.queueDelayMs;
    if (now >= due) return picked;
    this.armDelayTimer(due, now);
    return undefined;
  }

  private launch(batch: Entry<I, O>[]): void {
    const now = performance.now();
    let rows = 0;
    let cost = 0;
    for (const e of batch) {
      this.removeQueued(e);
      e.state = 'running';
      rows += e.size;
      cost += e.size * e.cost;
    }
    this.running++;
    this.runningRequests += batch.length;
    this.options.observer?.batchStarted?.({ size: rows, requests: batch.length, cost, queueMs: batch.map((e) => now - e.enqueuedAt) });
    const started = performance.now();
    let run: Promise<O[]>;
    try {
      run = this.options.runBatch(batch.map((e) => e.input));
    } catch (err) {
      run = Promise.reject(err);
    }
    run.then(
      (outputs) => {
        const computeMs = performance.now() - started;
        this.latency.observeBatch(rows, computeMs);
        this.options.observer?.batchFinished?.({ size: rows, computeMs, ok: true });
        if (outputs.length !== batch.length) {
          const err = ServiceError.from(new Error(`runner returned ${outputs.length} outputs for ${batch.length} inputs`));
          for (const e of batch) this.answer(e, () => e.reject(err), err);
        } else {
          batch.forEach((e, i) => this.answer(e, () => e.resolve(outputs[i]!)));
        }
      },
      (reason: unknown) => {
        this.options.observer?.batchFinished?.({ size: rows, computeMs: performance.now() - started, ok: false });
        const err = ServiceError.from(reason);
        if (err.cause !== undefined) this.logger.warn('batch failed', { model: this.options.name, error: String(err.cause) });
        for (const e of batch) this.answer(e, () => e.reject(err), err);
      },
    ).finally(() => {
      this.running--;
      this.runningRequests -= batch.length;
      if (this.options.adaptive) {
        this.adaptiveDelay = this.latency.chooseDelay(this.options.adaptive.targetLatencyMs, this.options.maxBatchSize, this.options.maxQueueDelayMs ?? 0);
      }
      this.pump();
      this.checkDrained();
    });
  }

  /** Delivers the outcome of a request that ran, in arrival order when ordering is preserved. */
  private answer(e: Entry<I, O>, deliver: () => void, error?: ServiceError): void {
    if (e.state === 'done') return;
    this.options.observer?.completed?.(error);
    if (!this.options.preserveOrdering) return this.finish(e, deliver);
    e.outcome = deliver;
    while (this.order.length > 0 && this.order[0]!.outcome) {
      const next = this.order.shift()!;
      this.finish(next, next.outcome!);
    }
  }

  private finish(e: Entry<I, O>, deliver: () => void): void {
    if (e.state === 'done') return;
    e.state = 'done';
    if (e.timer) clearTimeout(e.timer);
    if (e.signal && e.onAbort) e.signal.removeEventListener('abort', e.onAbort);
    deliver();
  }

  /** A request leaves without an answer from its batch: expired or cancelled. */
  private abandon(e: Entry<I, O>, reason: RejectReason, err: ServiceError): void {
    if (e.state === 'done') return;
    if (e.state === 'queued') this.removeQueued(e);
    // A request already running cannot be stopped; its caller is answered now, its row dropped later.
    this.reject(reason, err);
    if (this.options.preserveOrdering) {
      const at = this.order.indexOf(e);
      if (at >= 0) this.order.splice(at, 1);
    }
    this.finish(e, () => e.reject(err));
    if (this.options.preserveOrdering) {
      while (this.order.length > 0 && this.order[0]!.outcome) {
        const next = this.order.shift()!;
        this.finish(next, next.outcome!);
      }
    }
    this.schedulePump();
    this.checkDrained();
  }

  private expire(e: Entry<I, O>): void {
    if (e.state !== 'queued') return;
    const waited = Math.round(performance.now() - e.enqueuedAt);
    this.abandon(e, 'expired', deadlineExceeded(`request to ${this.options.name ?? 'model'} timed out after ${waited} ms in the queue`));
  }

  private removeQueued(e: Entry<I, O>): void {
    if (e.timer) clearTimeout(e.timer);
    e.timer = undefined;
    const queue = this.levels[e.level]!;
    const at = queue.indexOf(e);
    if (at >= 0) {
      queue.splice(at, 1);
      this.setDepth(this.depth - 1);
    }
  }

  private reject(reason: RejectReason, err: ServiceError): ServiceError {
    this.options.observer?.rejected?.(reason);
    return err;
  }

  private setDepth(depth: number): void {
    this.depth = depth;
    const threshold = this.options.saturation?.threshold ?? 0.8;
    const capacity = this.capacity;
    if (depth >= threshold * capacity) this.saturatedSince ??= performance.now();
    else if (depth < (threshold / 2) * capacity) this.saturatedSince = undefined;
  }

  /** Estimated wait until the queues at and above `level` have room: a retry hint. */
  private retryAfterMs(level: number): number {
    const ahead = this.levels.slice(0, level + 1).reduce((n, l) => n + l.length, 0);
    const perBatch = this.latency.calibrated ? this.latency.predict(this.options.maxBatchSize) : 50;
    const batches = Math.ceil(ahead / this.options.maxBatchSize);
    const estimate = (batches * perBatch) / (this.options.maxConcurrentBatches ?? 1);
    return Math.min(60_000, Math.max(1, Math.ceil(estimate)));
  }

  private armDelayTimer(at: number, now: number): void {
    if (this.delayTimer && this.delayTimerAt <= at) return;
    this.clearDelayTimer();
    this.delayTimerAt = at;
    this.delayTimer = setTimeout(() => {
      this.delayTimer = undefined;
      this.delayTimerAt = Infinity;
      this.pump();
    }, Math.max(0, at - now));
  }

  private clearDelayTimer(): void {
    if (this.delayTimer) clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    this.delayTimerAt = Infinity;
  }

  private checkDrained(): void {
    if (!this.draining || this.depth > 0 || this.running > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}
