/**
 * ONNX Runtime executors: N sessions of one model, each in its own worker thread, fed from one
 * FIFO and dispatched to the least-loaded idle instance. The event loop only moves messages.
 * An extension module may add stateful methods that run beside each session ({@link OnnxExecutor.call}).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ServiceError, unavailable, Status } from '@aigc/runtime';
import type { ExecutionProviderConfig, TensorInfo, WorkerInit, WorkerReply, WorkerRequest } from './executor-protocol.js';
import { transferables } from './executor-protocol.js';
import { silentLogger, type Logger } from './logger.js';
import type { TensorMap } from './tensor.js';

/** How to open a model's sessions. */
export interface ExecutorOptions {
  /** Path of the `.onnx` file. */
  modelPath: string;
  /** Sessions (worker threads) to open; default 1. */
  instances?: number;
  /** ONNX Runtime intra-op threads per session; default 1. */
  intraOpThreads?: number;
  /** ONNX Runtime inter-op threads per session; default 1. */
  interOpThreads?: number;
  /** Providers in order of preference; default `[{ name: 'cpu' }]`. */
  executionProviders?: ExecutionProviderConfig[];
  /** Used in log lines. */
  name?: string;
  logger?: Logger;
  /**
   * URL or path of a module every worker imports as it starts; its `handlers` (or
   * default) export maps method names to `(args, { session, ort, instance }) => { value, transfer?,
   * computeMs? }` handlers, reached with {@link OnnxExecutor.call}. For state that belongs next to
   * a session (a decoder's KV cache). An optional `prepareModel(bytes)` export may return the
   * model bytes the session opens instead of the file (undefined keeps the file). A `.ts` module
   * is loaded through tsx (development only).
   */
  extension?: string | URL;
}

/** Options of one {@link OnnxExecutor.run} call. */
export interface RunOptions {
  /** Aborting rejects the call; a call not yet handed to a worker is dropped from the queue. */
  signal?: AbortSignal;
  /** Only these outputs; default all. */
  outputs?: string[];
  /** Move the feeds' buffers to the worker instead of copying them (they are detached here). */
  transfer?: boolean;
}

/** A finished run: the outputs and the time the worker spent in `session.run`. */
export interface RunResult {
  outputs: TensorMap;
  computeMs: number;
}

/** Options of one {@link OnnxExecutor.call}. */
export interface CallOptions {
  /** The instance whose extension state the call needs; default the least-loaded idle one. */
  instance?: number;
  /** Aborting rejects the call; a call not yet handed to a worker is dropped from the queue. */
  signal?: AbortSignal;
  /** Buffers in `args` to move to the worker instead of copying (they are detached here). */
  transfer?: ArrayBuffer[];
  /**
   * With `instance`: hand the call to its worker even while that worker is running earlier
   * pipelined calls (up to {@link PIPELINE_DEPTH} in a worker), so it starts the moment the one
   * before it ends instead of after a round trip through the event loop. The worker still runs
   * calls one at a time, in the order they were made. For a loop whose next step can be sent
   * before the last one's result is read (a decoder that samples in its worker).
   */
  pipeline?: boolean;
}

/** Most pipelined calls handed to one worker at once (the running one and those queued behind it). */
export const PIPELINE_DEPTH = 2;

/** A finished extension call: the handler's value and the compute time it reported. */
export interface CallResult<T> {
  value: T;
  computeMs: number;
}

interface Job {
  id: number;
  message: WorkerRequest;
  transfer: ArrayBuffer[];
  /** Only this instance may take the job. */
  instance?: number;
  /** May queue in a busy worker behind other pipelined calls ({@link CallOptions.pipeline}). */
  pipeline?: boolean;
  signal?: AbortSignal;
  onAbort?: () => void;
  resolve: (r: { outputs?: TensorMap; value?: unknown; computeMs: number }) => void;
  reject: (e: unknown) => void;
}

interface Instance {
  index: number;
  worker: Worker;
  /** Jobs handed to the worker, oldest (running) first: one, or up to PIPELINE_DEPTH pipelined calls. */
  jobs: Job[];
  busySince: number;
  busyMs: number;
  runs: number;
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './executor-worker.ts' : './executor-worker.js', import.meta.url);

/**
 * The worker's entry. Compiled (`dist/`), it is the `.js` file. From source (specs under vitest),
 * or with an extension written in TypeScript, Node 20 does not pass `--import tsx` hooks to a
 * worker's entry, so a tiny eval'd bootstrap registers tsx in the worker and then imports the entry.
 */
function workerEntry(extension: string | undefined): { entry: string | URL; eval: boolean } {
  if (!FROM_SOURCE && !(extension && /\.[mc]?ts$/.test(extension))) return { entry: WORKER_URL, eval: false };
  // The ESM build of `tsx/esm/api` (the `import` condition of that export).
  const tsxRoot = createRequire(import.meta.url).resolve('tsx/package.json').replace(/package\.json$/, '');
  const tsxApi = pathToFileURL(`${tsxRoot}dist/esm/api/index.mjs`).href;
  const code = `import(${JSON.stringify(tsxApi)}).then((tsx) => tsx.register()).then(() => import(${JSON.stringify(WORKER_URL.href)}));`;
  return { entry: code, eval: true };
}

/** Runs one model on N worker-thread sessions. Create with {@link createExecutor}. */
export class OnnxExecutor {
  /** Model inputs as the session reports them. */
  readonly inputs: TensorInfo[];
  /** Model outputs as the session reports them. */
  readonly outputs: TensorInfo[];
  private readonly instances: Instance[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closing = false;
  private closedPromise: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];

  private constructor(
    private readonly options: ExecutorOptions,
    private readonly logger: Logger,
    meta: { inputs: TensorInfo[]; outputs: TensorInfo[] },
  ) {
    this.inputs = meta.inputs;
    this.outputs = meta.outputs;
  }

  /** Opens every instance; rejects (closing whatever opened) when any session fails to load. */
  static async create(options: ExecutorOptions): Promise<OnnxExecutor> {
    const logger = options.logger ?? silentLogger;
    const count = options.instances ?? 1;
    const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => spawn(options, i)));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.worker.terminate() : undefined)));
      throw failed.reason;
    }
    const opened = started.map((s) => (s as PromiseFulfilledResult<Spawned>).value);
    const executor = new OnnxExecutor(options, logger, opened[0]!.meta);
    for (const [index, s] of opened.entries()) executor.adopt(index, s.worker);
    logger.info('executor ready', { model: options.name, instances: count, path: options.modelPath });
    return executor;
  }

  /** Number of sessions. */
  get instanceCount(): number {
    return this.instances.length;
  }

  /** Sessions running a request right now. */
  get busyInstances(): number {
    return this.instances.filter((i) => i.jobs.length > 0).length;
  }

  /** Runs waiting for a free session. */
  get queued(): number {
    return this.queue.length;
  }

  /** Total milliseconds all sessions have spent busy (for utilization). */
  busyTimeMs(now = performance.now()): number {
    return this.instances.reduce((sum, i) => sum + i.busyMs + (i.jobs.length > 0 ? now - i.busySince : 0), 0);
  }

  /** Runs the model once on `feeds` in a worker thread (feeds copied unless `transfer`). */
  async run(feeds: TensorMap, options: RunOptions = {}): Promise<RunResult> {
    const id = this.nextId++;
    const message: WorkerRequest = { kind: 'run', id, feeds, outputs: options.outputs };
    const r = await this.enqueue(id, message, options.transfer ? transferables(Object.values(feeds)) : [], undefined, options.signal);
    return { outputs: r.outputs!, computeMs: r.computeMs };
  }

  /**
   * Calls `method` of the executor's extension in a worker (`args` structured-cloned, `transfer`
   * moved). Queued with runs; `instance` pins it to the worker that holds the state it needs.
   * Rejects with INTERNAL when the handler throws, UNAVAILABLE when the worker dies.
   */
  async call<T>(method: string, args: unknown, options: CallOptions = {}): Promise<CallResult<T>> {
    if (!this.options.extension) throw new ServiceError(Status.FAILED_PRECONDITION, `model ${this.options.name ?? ''} has no worker extension`);
    const { instance } = options;
    if (instance !== undefined && !(Number.isInteger(instance) && instance >= 0 && instance < this.instances.length)) {
      throw new RangeError(`instance ${instance} is not one of 0..${this.instances.length - 1}`);
    }
    const id = this.nextId++;
    const r = await this.enqueue(id, { kind: 'call', id, method, args }, options.transfer ?? [], instance, options.signal, options.pipeline === true && instance !== undefined);
    return { value: r.value as T, computeMs: r.computeMs };
  }

  private enqueue(id: number, message: WorkerRequest, transfer: ArrayBuffer[], instance: number | undefined, signal: AbortSignal | undefined, pipeline = false) {
    if (this.closing) return Promise.reject(unavailable(`model ${this.options.name ?? ''} is closing`.trim()));
    if (signal?.aborted) return Promise.reject(ServiceError.from(signal.reason));
    return new Promise<{ outputs?: TensorMap; value?: unknown; computeMs: number }>((resolve, reject) => {
      const job: Job = { id, message, transfer, instance, pipeline, signal, resolve, reject };
      if (signal) {
        job.onAbort = () => {
          const at = this.queue.indexOf(job);
          if (at >= 0) this.queue.splice(at, 1);
          // A run already in a worker cannot be stopped; its result is dropped when it comes.
          this.settle(job, () => reject(ServiceError.from(signal.reason)));
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Stops taking runs, lets queued and running ones finish, then ends the workers. */
  close(): Promise<void> {
    this.closing = true;
    this.closedPromise ??= (async () => {
      while (this.queue.length > 0 || this.busyInstances > 0) {
        await new Promise<void>((r) => this.idleWaiters.push(r));
      }
      await Promise.all(this.instances.map((i) => closeWorker(i.worker)));
      this.logger.info('executor closed', { model: this.options.name });
    })();
    return this.closedPromise;
  }

  private adopt(index: number, worker: Worker): void {
    const instance: Instance = { index, worker, jobs: [], busySince: 0, busyMs: 0, runs: 0 };
    this.instances[index] = instance;
    worker.on('message', (reply: WorkerReply) => this.onReply(instance, reply));
    worker.on('error', (err) => this.onCrash(instance, err));
    worker.on('exit', (code) => {
      if (!this.closing) this.onCrash(instance, new Error(`worker exited with code ${code}`));
    });
  }

  private onReply(instance: Instance, reply: WorkerReply): void {
    if (reply.kind !== 'result' && reply.kind !== 'returned' && reply.kind !== 'failed') return;
    const job = instance.jobs.find((j) => j.id === reply.id);
    if (job) {
      this.finish(instance, job);
      if (reply.kind === 'result') this.settle(job, () => job.resolve({ outputs: reply.outputs, computeMs: reply.computeMs }));
      else if (reply.kind === 'returned') this.settle(job, () => job.resolve({ value: reply.value, computeMs: reply.computeMs }));
      else this.settle(job, () => job.reject(new ServiceError(Status.INTERNAL, 'inference failed', { cause: new Error(reply.message) })));
    }
    this.dispatch();
  }

  private onCrash(instance: Instance, err: unknown): void {
    if (!this.instances.includes(instance) || (instance as { dead?: boolean }).dead) return;
    (instance as { dead?: boolean }).dead = true;
    this.logger.error('executor worker died; replacing it', { model: this.options.name, instance: instance.index, error: String(err) });
    const jobs = instance.jobs.slice();
    for (const job of jobs) this.finish(instance, job);
    for (const job of jobs) this.settle(job, () => job.reject(unavailable('inference worker died', 100)));
    void spawn(this.options, instance.index).then(
      (s) => {
        if (this.closing) return void s.worker.terminate();
        this.adopt(instance.index, s.worker);
        this.dispatch();
      },
      (e: unknown) => this.logger.error('executor worker could not be replaced', { model: this.options.name, error: String(e) }),
    );
  }

  private finish(instance: Instance, job: Job): void {
    const at = instance.jobs.indexOf(job);
    if (at < 0) return;
    instance.jobs.splice(at, 1);
    if (instance.jobs.length === 0) instance.busyMs += performance.now() - instance.busySince;
    instance.runs++;
    if (this.queue.length === 0 && this.busyInstances === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Hands queued jobs to idle instances in queue order, least busy time first so load spreads
   * evenly; a job pinned to a busy instance waits without holding back jobs behind it, unless it
   * is pipelined and its instance holds only pipelined calls, fewer than PIPELINE_DEPTH.
   */
  private dispatch(): void {
    for (let at = 0; at < this.queue.length; ) {
      const live = this.instances.filter((i) => !(i as { dead?: boolean }).dead);
      const idle = live.filter((i) => i.jobs.length === 0);
      const job = this.queue[at]!;
      let instance: Instance | undefined;
      if (job.instance === undefined) {
        // Nothing idle: only a pipelined call further back may still be handed over.
        if (idle.length === 0) {
          at++;
          continue;
        }
        instance = idle.reduce((a, b) => (b.busyMs < a.busyMs ? b : a));
      } else {
        const pinned = live.find((i) => i.index === job.instance);
        const takes = pinned && (pinned.jobs.length === 0 || (job.pipeline && pinned.jobs.length < PIPELINE_DEPTH && pinned.jobs.every((j) => j.pipeline)));
        instance = takes ? pinned : undefined;
      }
      if (!instance) {
        at++;
        continue;
      }
      this.queue.splice(at, 1);
      if (instance.jobs.length === 0) instance.busySince = performance.now();
      instance.jobs.push(job);
      instance.worker.postMessage(job.message, job.transfer);
    }
  }

  private settle(job: Job, fn: () => void): void {
    if ((job as { done?: boolean }).done) return;
    (job as { done?: boolean }).done = true;
    if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
    fn();
  }
}

interface Spawned {
  worker: Worker;
  meta: { inputs: TensorInfo[]; outputs: TensorInfo[] };
}

function spawn(options: ExecutorOptions, instance: number): Promise<Spawned> {
  const init: WorkerInit = {
    modelPath: options.modelPath,
    instance,
    intraOpThreads: options.intraOpThreads ?? 1,
    interOpThreads: options.interOpThreads ?? 1,
    executionProviders: options.executionProviders ?? [{ name: 'cpu' }],
    extension: extensionUrl(options.extension),
  };
  const { entry, eval: isEval } = workerEntry(init.extension);
  const worker = new Worker(entry, { eval: isEval, workerData: init, name: `onnx:${options.name ?? 'model'}:${instance}` });
  return new Promise<Spawned>((resolve, reject) => {
    const onMessage = (reply: WorkerReply): void => {
      cleanup();
      if (reply.kind === 'ready') resolve({ worker, meta: { inputs: reply.inputs, outputs: reply.outputs } });
      else if (reply.kind === 'load-failed') {
        void worker.terminate();
        reject(new ServiceError(Status.FAILED_PRECONDITION, `cannot load ${options.modelPath}: ${reply.message}`));
      }
    };
    const onError = (err: unknown): void => {
      cleanup();
      reject(new ServiceError(Status.FAILED_PRECONDITION, `cannot start a worker for ${options.modelPath}`, { cause: err }));
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
  });
}

/** A file URL for the worker's `import()`: URLs as they are, paths converted. */
function extensionUrl(extension: string | URL | undefined): string | undefined {
  if (extension === undefined) return undefined;
  if (extension instanceof URL) return extension.href;
  return /^(file|data|node):/.test(extension) ? extension : pathToFileURL(extension).href;
}

function closeWorker(worker: Worker): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 2000);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    worker.on('message', (reply: WorkerReply) => {
      if (reply.kind === 'closed') void worker.terminate();
    });
    worker.postMessage({ kind: 'close' } satisfies WorkerRequest);
  });
}

/** Opens an {@link OnnxExecutor}: N worker-thread sessions of one model. */
export function createExecutor(options: ExecutorOptions): Promise<OnnxExecutor> {
  return OnnxExecutor.create(options);
}
