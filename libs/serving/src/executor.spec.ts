import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cancelled, Status } from '@aigc/runtime';
import { createExecutor, type OnnxExecutor } from './executor.js';
import { tensor, toNumbers } from './tensor.js';
import { testModelPath } from './test-support/models.js';
import { itersFor } from './test-support/spin-runner.js';

const spinFeeds = (iters: number, x = 0) => ({
  x: tensor('float32', [1, 4], [x, x, x, x]),
  iters: tensor('int64', [1, 1], [iters]),
});

describe('OnnxExecutor', () => {
  let executor: OnnxExecutor | undefined;
  afterEach(async () => {
    await executor?.close();
    executor = undefined;
  });

  it('runs a model in a worker thread and returns its outputs', async () => {
    executor = await createExecutor({ modelPath: testModelPath('add_one'), name: 'add_one' });
    expect(executor.inputs.map((i) => i.name)).toEqual(['x']);
    const { outputs } = await executor.run({ x: tensor('float32', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]) });
    expect(outputs.y!.dims).toEqual([2, 4]);
    expect(toNumbers(outputs.y!)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('runs on every instance at once and keeps the event loop free meanwhile', async () => {
    executor = await createExecutor({ modelPath: testModelPath('spin'), instances: 2 });
    let maxGap = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 5);
    const runs = [executor.run(spinFeeds(itersFor(300), 1)), executor.run(spinFeeds(itersFor(300), 2))];
    expect(executor.busyInstances).toBe(2);
    const results = await Promise.all(runs);
    clearInterval(ticker);
    expect(results.map((r) => toNumbers(r.outputs.y!)[0])).toEqual([2, 3]);
    // Each run takes hundreds of ms; had one run on the event loop, a tick gap would be that long.
    expect(results[0]!.computeMs).toBeGreaterThan(100);
    expect(maxGap).toBeLessThan(results[0]!.computeMs / 2);
  });

  it('queues runs beyond the instance count and drops a queued run when its signal aborts', async () => {
    executor = await createExecutor({ modelPath: testModelPath('spin'), instances: 1 });
    const first = executor.run(spinFeeds(itersFor(100)));
    const controller = new AbortController();
    const second = executor.run(spinFeeds(1), { signal: controller.signal });
    expect(executor.queued).toBe(1);
    controller.abort(cancelled('client went away'));
    await expect(second).rejects.toMatchObject({ code: Status.CANCELLED });
    expect(executor.queued).toBe(0);
    await expect(first).resolves.toBeDefined();
  });

  it('fails to open a missing model with FAILED_PRECONDITION naming the path', async () => {
    await expect(createExecutor({ modelPath: '/nonexistent/model.onnx' })).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
      message: expect.stringContaining('/nonexistent/model.onnx'),
    });
  });

  it('reports a bad feed as a failed run without killing the instance', async () => {
    executor = await createExecutor({ modelPath: testModelPath('add_one') });
    await expect(executor.run({ x: tensor('float32', [1, 3], [1, 2, 3]) })).rejects.toMatchObject({ code: Status.INTERNAL });
    const { outputs } = await executor.run({ x: tensor('float32', [1, 4], [0, 0, 0, 0]) });
    expect(toNumbers(outputs.y!)).toEqual([1, 1, 1, 1]);
  });

  it('finishes running work on close and refuses new work', async () => {
    executor = await createExecutor({ modelPath: testModelPath('spin') });
    const running = executor.run(spinFeeds(itersFor(25)));
    const closed = executor.close();
    await expect(executor.run(spinFeeds(1))).rejects.toMatchObject({ code: Status.UNAVAILABLE });
    await expect(running).resolves.toBeDefined();
    await closed;
  });

  it('keeps extension state in each worker and reaches it by instance', async () => {
    // A stateful extension: a running total per worker, added to by the model's own output.
    const dir = mkdtempSync(join(tmpdir(), 'executor-extension-'));
    const path = join(dir, 'totals.mjs');
    writeFileSync(
      path,
      `let total = 0;
export const handlers = {
  async add({ x }, { session, ort, instance }) {
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([x, x, x, x]), [1, 4]) });
    total += out.y.data[0];
    const data = Float32Array.from([total, instance]);
    return { value: data, transfer: [data.buffer], computeMs: 1.5 };
  },
  fail() { throw new Error('no such total'); },
};
`,
    );
    executor = await createExecutor({ modelPath: testModelPath('add_one'), instances: 2, extension: path });
    const add = (x: number, instance: number) => executor!.call<Float32Array>('add', { x }, { instance }).then((r) => Array.from(r.value));
    expect(await add(1, 0)).toEqual([2, 0]);
    expect(await add(10, 1)).toEqual([11, 1]);
    expect(await add(2, 0)).toEqual([5, 0]);
    const both = await Promise.all([add(0, 1), add(0, 1), add(0, 0)]);
    expect(both).toEqual([[12, 1], [13, 1], [6, 0]]);
    expect((await executor.call('add', { x: 0 }, { instance: 1 })).computeMs).toBe(1.5);
    await expect(executor.call('fail', {})).rejects.toMatchObject({ code: Status.INTERNAL });
    await expect(executor.call('missing', {})).rejects.toMatchObject({ code: Status.INTERNAL });
    // Plain runs still work beside the extension, and the state survived the failures.
    expect(toNumbers((await executor.run({ x: tensor('float32', [1, 4], [0, 0, 0, 0]) })).outputs.y!)).toEqual([1, 1, 1, 1]);
    expect(await add(0, 0)).toEqual([7, 0]);
  });

  it('hands pipelined calls to a busy worker, up to the pipeline depth, and runs them one at a time in order', async () => {
    // Each call spins the model for a while and returns the log of calls entering and leaving.
    const dir = mkdtempSync(join(tmpdir(), 'executor-extension-'));
    const path = join(dir, 'log.mjs');
    writeFileSync(
      path,
      `const log = [];
export const handlers = {
  async spin({ name, iters }, { session, ort }) {
    log.push('start ' + name);
    await session.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4]), iters: new ort.Tensor('int64', BigInt64Array.from([BigInt(iters)]), [1, 1]) });
    log.push('end ' + name);
    return { value: log.slice() };
  },
};
`,
    );
    executor = await createExecutor({ modelPath: testModelPath('spin'), extension: path });
    const iters = itersFor(30);
    const call = (name: string, pipeline: boolean) => executor!.call<string[]>('spin', { name, iters }, { instance: 0, pipeline }).then((r) => r.value);
    const a = call('a', true);
    // A call for any instance waits for an idle one, without holding back the pipelined call behind it.
    const u = executor.call<string[]>('spin', { name: 'u', iters }).then((r) => r.value);
    const b = call('b', true);
    // a and b are in the worker; a third pipelined call waits for a slot, and so does a plain call.
    expect(executor.queued).toBe(1);
    const c = call('c', true);
    const d = call('d', false);
    expect(executor.queued).toBe(3);
    expect(await a).toEqual(['start a', 'end a']);
    expect(executor.queued).toBe(2); // c took a's slot at once; u and d wait for an idle worker
    expect(await b).toEqual(['start a', 'end a', 'start b', 'end b']);
    await c;
    expect(await u).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c', 'start u', 'end u']);
    expect((await d).slice(-2)).toEqual(['start d', 'end d']);
  });

  it('opens the model bytes an extension prepares instead of the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'executor-extension-'));
    const path = join(dir, 'swap.mjs');
    // Asked to open spin, the extension hands over add_one's bytes.
    writeFileSync(path, `import { readFileSync } from 'node:fs';
export const handlers = {};
export function prepareModel(bytes) { return bytes.length > 0 ? new Uint8Array(readFileSync(${JSON.stringify(testModelPath('add_one'))})) : undefined; }
`);
    executor = await createExecutor({ modelPath: testModelPath('spin'), extension: path });
    expect(executor.inputs.map((i) => i.name)).toEqual(['x']);
    const { outputs } = await executor.run({ x: tensor('float32', [1, 4], [1, 2, 3, 4]) });
    expect(toNumbers(outputs.y!)).toEqual([2, 3, 4, 5]);
  });

  it('refuses a call without an extension', async () => {
    executor = await createExecutor({ modelPath: testModelPath('add_one') });
    await expect(executor.call('add', {})).rejects.toMatchObject({ code: Status.FAILED_PRECONDITION });
  });

  it('fails to open when the extension cannot be loaded', async () => {
    await expect(createExecutor({ modelPath: testModelPath('add_one'), extension: '/nonexistent/extension.mjs' })).rejects.toMatchObject({
      code: Status.FAILED_PRECONDITION,
    });
  });
});
