import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cancelled, Status } from '@aigc/runtime';
import { DynamicBatcher, type DynamicBatcherOptions } from './dynamic-batcher.js';
import { itersFor, spinRunner, type SpinRequest } from './test-support/spin-runner.js';
import type { OnnxExecutor } from './executor.js';

describe('DynamicBatcher over the spin model', () => {
  let executor: OnnxExecutor;
  let batches: number[][];
  let runBatch: (inputs: SpinRequest[]) => Promise<number[]>;

  beforeAll(async () => {
    ({ executor, batches, runBatch } = await spinRunner(2));
  });
  afterAll(() => executor.close());
  beforeEach(() => {
    batches.length = 0;
  });

  const make = (options: Partial<DynamicBatcherOptions<SpinRequest, number>> = {}) =>
    new DynamicBatcher<SpinRequest, number>({ runBatch, maxBatchSize: 4, name: 'spin', ...options });
  const quick = (id: number): SpinRequest => ({ id, iters: 1 });
  /** Occupies the only runner slot for about `ms`. */
  const block = (b: DynamicBatcher<SpinRequest, number>, ms = 300) => b.submit({ id: 999, iters: itersFor(ms) });

  it('forms batches up to the max size while the runner is busy', async () => {
    const b = make();
    const blocker = block(b);
    await Promise.resolve();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(quick(i))));
    await blocker;
    expect(results).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(batches.map((x) => x.length)).toEqual([1, 4, 4, 2]);
  });

  it('waits up to the max queue delay for a batch to fill, then runs what it has', async () => {
    const b = make({ maxBatchSize: 8, maxQueueDelayMs: 200 });
    const t0 = performance.now();
    const startedAt: number[] = [];
    const all = Promise.all([1, 2, 3].map((i) => b.submit(quick(i)).then(() => startedAt.push(performance.now() - t0))));
    await all;
    expect(batches).toEqual([[1, 2, 3]]);
    expect(Math.min(...startedAt)).toBeGreaterThanOrEqual(195);
    expect(Math.max(...startedAt)).toBeLessThan(200 + 2000);
  });

  it('runs a full batch at once without waiting for the delay', async () => {
    const b = make({ maxBatchSize: 4, maxQueueDelayMs: 20_000 });
    const t0 = performance.now();
    await Promise.all([1, 2, 3, 4].map((i) => b.submit(quick(i))));
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it('runs a preferred batch size at once', async () => {
    const b = make({ maxBatchSize: 8, preferredBatchSizes: [2], maxQueueDelayMs: 20_000 });
    const t0 = performance.now();
    await Promise.all([1, 2].map((i) => b.submit(quick(i))));
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(batches).toEqual([[1, 2]]);
  });

  it('rejects at once with RESOURCE_EXHAUSTED and a retry hint when the queue is full', async () => {
    const b = make({ queuePolicy: { maxQueueSize: 2 } });
    let blockerDone = false;
    const blocker = block(b, 400).then(() => (blockerDone = true));
    await Promise.resolve();
    await Promise.resolve();
    const queued = [b.submit(quick(1)), b.submit(quick(2))];
    const err = await b.submit(quick(3)).catch((e: unknown) => e);
    expect(blockerDone).toBe(false);
    expect(err).toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
    expect((err as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
    await Promise.all([blocker, ...queued]);
    expect(batches.flat()).not.toContain(3);
  });

  it('expires a queued request on its own timer, before the busy runner frees up, and never runs it', async () => {
    const b = make();
    let blockerDone = false;
    const blocker = block(b, 600).then(() => (blockerDone = true));
    await Promise.resolve();
    const t0 = performance.now();
    const err = await b.submit(quick(7), { timeoutMs: 50 }).catch((e: unknown) => e);
    const waited = performance.now() - t0;
    expect(err).toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    expect(blockerDone).toBe(false);
    expect(waited).toBeGreaterThanOrEqual(45);
    await blocker;
    await b.submit(quick(8));
    expect(batches.flat()).not.toContain(7);
    expect(b.queueDepth).toBe(0);
  });

  it('lets a per-request timeout only shorten the queue policy default', async () => {
    const b = make({ queuePolicy: { maxQueueSize: 10, defaultTimeoutMs: 50 } });
    const blocker = block(b, 500);
    await Promise.resolve();
    await expect(b.submit(quick(5), { timeoutMs: 60_000 })).rejects.toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    await blocker;
    expect(batches.flat()).not.toContain(5);
  });

  it('rejects a request whose absolute deadline already passed without queueing it', async () => {
    const b = make();
    await expect(b.submit(quick(1), { deadline: Date.now() - 1 })).rejects.toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    expect(b.queueDepth).toBe(0);
  });

  it('removes a cancelled request from the queue at once', async () => {
    const b = make();
    const blocker = block(b, 400);
    await Promise.resolve();
    const controller = new AbortController();
    const p = b.submit(quick(42), { signal: controller.signal });
    await Promise.resolve();
    expect(b.queueDepth).toBe(1);
    controller.abort(cancelled('client left'));
    await expect(p).rejects.toMatchObject({ code: Status.CANCELLED });
    expect(b.queueDepth).toBe(0);
    await blocker;
    expect(batches.flat()).not.toContain(42);
  });

  it('serves higher priority first under contention', async () => {
    const b = make({ maxBatchSize: 3, priorityLevels: 2 });
    const blocker = block(b, 300);
    await Promise.resolve();
    const low = [1, 2, 3].map((i) => b.submit(quick(i), { priority: 2 }));
    const high = [11, 12, 13].map((i) => b.submit(quick(i), { priority: 1 }));
    await Promise.all([blocker, ...low, ...high]);
    expect(batches).toEqual([[999], [11, 12, 13], [1, 2, 3]]);
  });

  it('rejects an unknown priority level naming it', async () => {
    const b = make({ priorityLevels: 2 });
    await expect(b.submit(quick(1), { priority: 3 })).rejects.toMatchObject({ code: Status.INVALID_ARGUMENT, message: expect.stringContaining('priority') });
  });

  it('bounds a batch by cost as well as by count', async () => {
    const b = make({ maxBatchSize: 8, maxBatchCost: 10 });
    const blocker = block(b, 300);
    await Promise.resolve();
    await Promise.all([1, 2, 3].map((i) => b.submit(quick(i), { cost: 4 })));
    await blocker;
    expect(batches.slice(1)).toEqual([[1, 2], [3]]);
  });

  it('batches only requests with the same shape key', async () => {
    const b = make({ maxBatchSize: 8 });
    const blocker = block(b, 300);
    await Promise.resolve();
    await Promise.all([b.submit(quick(1), { key: 'len16' }), b.submit(quick(2), { key: 'len32' }), b.submit(quick(3), { key: 'len16' })]);
    await blocker;
    expect(batches.slice(1)).toEqual([[1, 3], [2]]);
  });

  it('answers in arrival order only when asked to preserve ordering', async () => {
    for (const preserveOrdering of [false, true]) {
      const b = make({ maxBatchSize: 1, maxConcurrentBatches: 2, preserveOrdering });
      const answered: number[] = [];
      await Promise.all([
        b.submit({ id: 1, iters: itersFor(300) }).then((id) => answered.push(id)),
        b.submit({ id: 2, iters: 1 }).then((id) => answered.push(id)),
      ]);
      expect(answered).toEqual(preserveOrdering ? [1, 2] : [2, 1]);
    }
  });

  it('drains queued work and refuses new work with UNAVAILABLE', async () => {
    const b = make({ maxQueueDelayMs: 20_000, maxBatchSize: 8 });
    const queued = [b.submit(quick(1)), b.submit(quick(2))];
    await Promise.resolve();
    const drained = b.drain();
    await expect(b.submit(quick(3))).rejects.toMatchObject({ code: Status.UNAVAILABLE });
    await expect(Promise.all(queued)).resolves.toEqual([1, 2]);
    await drained;
  });

  it('reports overload while its queues stay saturated, and recovers', async () => {
    const b = make({ queuePolicy: { maxQueueSize: 4 }, saturation: { threshold: 0.75, holdMs: 0 } });
    const blocker = block(b, 300);
    await Promise.resolve();
    expect(b.overloaded).toBe(false);
    const queued = [1, 2, 3].map((i) => b.submit(quick(i)));
    await Promise.resolve();
    expect(b.overloaded).toBe(true);
    await Promise.all([blocker, ...queued]);
    expect(b.overloaded).toBe(false);
  });

  it('adaptive mode opens a queue delay under steady load', async () => {
    const b = make({ maxBatchSize: 8, maxQueueDelayMs: 50, adaptive: { targetLatencyMs: 200 }, maxConcurrentBatches: 2 });
    expect(b.queueDelayMs).toBe(0);
    const pending: Promise<number>[] = [];
    for (let i = 0; i < 60; i++) {
      pending.push(b.submit({ id: i, iters: itersFor(2) }));
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(pending);
    expect(b.queueDelayMs).toBeGreaterThan(0);
    expect(b.queueDelayMs).toBeLessThanOrEqual(50);
  });
});
