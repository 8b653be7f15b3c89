import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelled, Status } from '@aigc/runtime';
import { createExecutor, type OnnxExecutor } from './executor.js';
import { IterationScheduler, type IterationSchedulerOptions } from './iteration-scheduler.js';
import { tensor } from './tensor.js';
import { testModelPath } from './test-support/models.js';

/** A request that counts up to `target` by one per iteration, on the real add_one model. */
interface Counter {
  id: string;
  count: number;
  target: number;
}

describe('IterationScheduler over the add_one model', () => {
  let executor: OnnxExecutor;
  let trace: string[][];

  beforeAll(async () => {
    executor = await createExecutor({ modelPath: testModelPath('add_one', 1) });
  });
  afterAll(() => executor.close());

  const make = (options: Partial<IterationSchedulerOptions<Counter>> = {}) => {
    trace = [];
    return new IterationScheduler<Counter>({
      maxActive: 2,
      ...options,
      step: async (states) => {
        trace.push(states.map((s) => s.id));
        const x = tensor('float32', [states.length, 4], states.flatMap((s) => [s.count, 0, 0, 0]));
        const { outputs } = await executor.run({ x });
        const y = outputs.y!.data as Float32Array;
        return states.map((s, i) => {
          const count = y[i * 4]!;
          return { state: { ...s, count }, done: count >= s.target };
        });
      },
    });
  };
  const counter = (id: string, target: number): Counter => ({ id, count: 0, target });

  it('lets requests join and leave the running batch between iterations', async () => {
    const s = make({ maxActive: 2 });
    const results = await Promise.all([s.submit(counter('a', 3)), s.submit(counter('b', 5)), s.submit(counter('c', 2))]);
    expect(results.map((r) => r.count)).toEqual([3, 5, 2]);
    expect(trace).toEqual([['a', 'b'], ['a', 'b'], ['a', 'b'], ['b', 'c'], ['b', 'c']]);
  });

  it('streams every step to the caller', async () => {
    const s = make();
    const seen: number[] = [];
    await s.submit(counter('a', 4), { onStep: (st) => seen.push(st.count) });
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('admits by cost budget as well as by count, in queue order', async () => {
    const s = make({ maxActive: 4, maxCost: 10 });
    await Promise.all([s.submit(counter('a', 2), { cost: 6 }), s.submit(counter('b', 2), { cost: 6 }), s.submit(counter('c', 1), { cost: 4 })]);
    expect(trace).toEqual([['a'], ['a'], ['b', 'c'], ['b']]);
  });

  it('frees a cancelled request’s slot at the next iteration', async () => {
    const s = make({ maxActive: 1 });
    const controller = new AbortController();
    const long = s.submit(counter('long', 1_000_000), { signal: controller.signal });
    const next = s.submit(counter('next', 2));
    while (trace.length < 3) await new Promise((r) => setTimeout(r, 1));
    controller.abort(cancelled('client left'));
    await expect(long).rejects.toMatchObject({ code: Status.CANCELLED });
    await expect(next).resolves.toMatchObject({ count: 2 });
    const firstNext = trace.findIndex((ids) => ids.includes('next'));
    expect(trace.slice(firstNext).flat()).not.toContain('long');
    expect(trace.length - firstNext).toBe(2);
  });

  it('admits higher priority first and rejects at once when the waiting queue is full', async () => {
    const s = make({ maxActive: 1, priorityLevels: 2, queuePolicy: { maxQueueSize: 2 } });
    const first = s.submit(counter('first', 50));
    await new Promise((r) => setTimeout(r, 0));
    expect(s.activeCount).toBe(1);
    const low = s.submit(counter('low', 1), { priority: 2 });
    const high = s.submit(counter('high', 1), { priority: 1 });
    const low2 = s.submit(counter('low2', 1), { priority: 2 });
    await expect(s.submit(counter('low3', 1), { priority: 2 })).rejects.toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
    await Promise.all([first, low, high, low2]);
    expect(trace.map((ids) => ids[0]).filter((id) => id !== 'first')).toEqual(['high', 'low', 'low2']);
    expect(trace.findIndex((ids) => ids[0] !== 'first')).toBe(50);
  });

  it('times out a request that cannot join in time', async () => {
    const s = make({ maxActive: 1 });
    const long = s.submit(counter('long', 2000));
    await expect(s.submit(counter('late', 1), { timeoutMs: 20 })).rejects.toMatchObject({ code: Status.DEADLINE_EXCEEDED });
    await long;
    expect(trace.flat()).not.toContain('late');
  });

  it('rejects the active requests when a step fails, then keeps serving', async () => {
    let fail = true;
    const s = new IterationScheduler<Counter>({
      maxActive: 2,
      step: async (states) => {
        if (fail) {
          fail = false;
          await executor.run({ x: tensor('float32', [1, 3], [0, 0, 0]) }); // wrong shape: the session fails
        }
        return states.map((st) => ({ state: { ...st, count: st.count + 1 }, done: true }));
      },
    });
    await expect(s.submit(counter('a', 1))).rejects.toMatchObject({ code: Status.INTERNAL });
    await expect(s.submit(counter('b', 1))).resolves.toMatchObject({ count: 1 });
  });
});
