/**
 * Iteration-level (continuous) batching for loops such as token decoding and diffusion denoising:
 * each request is a state advanced one step per iteration by a step function that makes one
 * batched call for all active requests. Requests join between iterations up to a count and cost
 * budget, and leave when done or cancelled (the slot is free at the next iteration).
 */
import { deadlineExceeded, invalidArgument, resourceExhausted, ServiceError, unavailable } from '@aigc/runtime';
import type { QueuePolicy } from './dynamic-batcher.js';
import { silentLogger, type Logger } from './logger.js';

/** What the step function returns for one request. */
export interface IterationStep<S> {
  state: S;
  /** The request is finished; it resolves with `state` and leaves the batch. */
  done: boolean;
}

/** Options of an {@link IterationScheduler}. */
export interface IterationSchedulerOptions<S> {
  /** Advances every active request by one step in one batched call; one result per state, in order. */
  step: (states: S[]) => Promise<IterationStep<S>[]>;
  /** Most requests in the running batch. */
  maxActive: number;
  /** Most total cost (e.g. KV-cache tokens, latent pixels) in the running batch. */
  maxCost?: number;
  /** Priority levels, 1 = highest; default 1. */
  priorityLevels?: number;
  /** Waiting-queue policy for every level, or one per level. */
  queuePolicy?: QueuePolicy | QueuePolicy[];
  name?: string;
  logger?: Logger;
}

/** Options of one {@link IterationScheduler.submit}. */
export interface IterationSubmitOptions<S> {
  priority?: number;
  /** Cost this request holds while active; default 1. */
  cost?: number;
  /** Longest wait to join the batch; only shortens the level default. */
  timeoutMs?: number;
  /** Absolute deadline (epoch ms) to join the batch. */
  deadline?: number;
  /** Cancels the request, waiting or active. */
  signal?: AbortSignal;
  /** Called with the new state after every step (streaming tokens, progress). */
  onStep?: (state: S) => void;
}

interface Entry<S> {
  state: S;
  cost: number;
  level: number;
  status: 'waiting' | 'active' | 'done';
  timer?: NodeJS.Timeout;
  options: IterationSubmitOptions<S>;
  onAbort?: () => void;
  resolve: (s: S) => void;
  reject: (e: unknown) => void;
}

/** Runs a batch of stateful requests one iteration at a time; see the module comment. */
export class IterationScheduler<S> {
  private readonly waitingByLevel: Entry<S>[][];
  private readonly policies: QueuePolicy[];
  private active: Entry<S>[] = [];
  private looping = false;
  private closed = false;
  private iterationMs = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly logger: Logger;
  /** Iterations run so far. */
  iterations = 0;

  constructor(private readonly options: IterationSchedulerOptions<S>) {
    const levels = options.priorityLevels ?? 1;
    this.waitingByLevel = Array.from({ length: levels }, () => []);
    const p = options.queuePolicy ?? { maxQueueSize: 1024 };
    this.policies = Array.from({ length: levels }, (_, i) => (Array.isArray(p) ? (p[i] ?? p[p.length - 1]!) : p));
    this.logger = options.logger ?? silentLogger;
  }

  /** Requests in the running batch (including cancelled ones until the next iteration). */
  get activeCount(): number {
    return this.active.length;
  }

  /** Requests waiting to join. */
  get waitingCount(): number {
    return this.waitingByLevel.reduce((n, l) => n + l.length, 0);
  }

  /** Queues a request; resolves with its final state when a step marks it done. */
  submit(initial: S, options: IterationSubmitOptions<S> = {}): Promise<S> {
    const name = this.options.name ?? 'scheduler';
    if (this.closed) return Promise.reject(unavailable(`${name} is closing`));
    if (options.signal?.aborted) return Promise.reject(ServiceError.from(options.signal.reason));
    const levels = this.waitingByLevel.length;
    const priority = options.priority || levels;
    if (!Number.isInteger(priority) || priority < 1 || priority > levels) return Promise.reject(invalidArgument(`priority must be between 1 and ${levels} (got ${options.priority})`));
    const cost = options.cost ?? 1;
    if (this.options.maxCost !== undefined && cost > this.options.maxCost) return Promise.reject(invalidArgument(`cost ${cost} exceeds the batch budget ${this.options.maxCost} of ${name}`));
    const level = priority - 1;
    const policy = this.policies[level]!;
    if (this.waitingByLevel[level]!.length >= policy.maxQueueSize) {
      return Promise.reject(resourceExhausted(`waiting queue of ${name} at priority ${priority} is full (${policy.maxQueueSize})`, Math.max(1, Math.ceil(this.iterationMs * 4)) || 50));
    }
    let timeout = policy.defaultTimeoutMs ?? Infinity;
    if (options.timeoutMs !== undefined && options.timeoutMs > 0) timeout = Math.min(timeout, options.timeoutMs);
    if (options.deadline !== undefined) timeout = Math.min(timeout, options.deadline - Date.now());
    if (timeout <= 0) return Promise.reject(deadlineExceeded(`deadline passed before the request to ${name} was queued`));
    return new Promise<S>((resolve, reject) => {
      const e: Entry<S> = { state: initial, cost, level, status: 'waiting', options, resolve, reject };
      if (Number.isFinite(timeout)) {
        e.timer = setTimeout(() => {
          if (e.status === 'waiting') this.leave(e, deadlineExceeded(`request to ${name} waited ${Math.round(timeout)} ms without joining the batch`));
        }, timeout);
      }
      const { signal } = options;
      if (signal) {
        e.onAbort = () => this.leave(e, ServiceError.from(signal.reason));
        signal.addEventListener('abort', e.onAbort, { once: true });
      }
      this.waitingByLevel[level]!.push(e);
      this.kick();
    });
  }

  /** Stops taking requests and resolves once every admitted and waiting request has finished. */
  drain(): Promise<void> {
    this.closed = true;
    if (!this.looping && this.waitingCount === 0 && this.active.length === 0) return Promise.resolve();
    return new Promise<void>((r) => this.idleWaiters.push(r));
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    queueMicrotask(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        // Iteration boundary: cancelled requests leave, waiting ones join.
        this.active = this.active.filter((e) => e.status === 'active');
        this.admit();
        if (this.active.length === 0) break;
        const batch = this.active.slice();
        const started = performance.now();
        let results: IterationStep<S>[];
        try {
          results = await this.options.step(batch.map((e) => e.state));
          if (results.length !== batch.length) throw new Error(`step returned ${results.length} results for ${batch.length} states`);
        } catch (err) {
          const error = ServiceError.from(err);
          this.logger.warn('iteration failed', { scheduler: this.options.name, error: String(err) });
          for (const e of batch) this.leave(e, error);
          continue;
        }
        this.iterations++;
        const ms = performance.now() - started;
        this.iterationMs = this.iterationMs === 0 ? ms : this.iterationMs * 0.9 + ms * 0.1;
        batch.forEach((e, i) => {
          if (e.status !== 'active') return; // cancelled during the step: its result is dropped
          const r = results[i]!;
          e.state = r.state;
          e.options.onStep?.(r.state);
          if (r.done) this.finish(e, () => e.resolve(r.state));
        });
      }
    } finally {
      this.looping = false;
      if (this.waitingCount > 0) this.kick();
      else if (this.active.length === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  private admit(): void {
    let cost = this.active.reduce((n, e) => n + e.cost, 0);
    for (const level of this.waitingByLevel) {
      while (level.length > 0 && this.active.length < this.options.maxActive) {
        const e = level[0]!;
        if (this.options.maxCost !== undefined && cost + e.cost > this.options.maxCost) return;
        level.shift();
        if (e.timer) clearTimeout(e.timer);
        e.status = 'active';
        cost += e.cost;
        this.active.push(e);
      }
      if (this.active.length >= this.options.maxActive) return;
    }
  }

  /** Leaves without finishing (cancel, timeout, failure); an active slot frees at the next iteration. */
  private leave(e: Entry<S>, err: ServiceError): void {
    if (e.status === 'done') return;
    if (e.status === 'waiting') {
      const queue = this.waitingByLevel[e.level]!;
      const at = queue.indexOf(e);
      if (at >= 0) queue.splice(at, 1);
    }
    this.finish(e, () => e.reject(err));
  }

  private finish(e: Entry<S>, deliver: () => void): void {
    e.status = 'done';
    if (e.timer) clearTimeout(e.timer);
    if (e.onAbort) e.options.signal?.removeEventListener('abort', e.onAbort);
    deliver();
  }
}
