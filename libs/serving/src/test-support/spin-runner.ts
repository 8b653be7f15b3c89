/**
 * A batch runner over the real `spin` test model for batcher specs: each request is an id and a
 * number of busy-loop iterations; the batch runs max(iters) iterations and answers each id.
 */
import { createExecutor, type OnnxExecutor } from '../executor.js';
import { tensor } from '../tensor.js';
import { testModelPath } from './models.js';

/** One request to the spin model. */
export interface SpinRequest {
  id: number;
  /** Busy-loop iterations (about 1.5 µs each on a quiet core). */
  iters: number;
}

/**
 * Iterations that keep one instance busy for at least about `ms`: calibrated on a quiet core
 * (measured 1.5 µs an iteration), so a loaded machine only makes the busy time longer. Specs that
 * need an instance busy while they act therefore never see it finish early.
 */
export const itersFor = (ms: number): number => Math.round(ms * 700);

/** Opens the spin model and returns a runner that records every batch's ids. */
export async function spinRunner(instances = 1): Promise<{
  executor: OnnxExecutor;
  batches: number[][];
  runBatch: (inputs: SpinRequest[]) => Promise<number[]>;
}> {
  const executor = await createExecutor({ modelPath: testModelPath('spin'), instances });
  const batches: number[][] = [];
  const runBatch = async (inputs: SpinRequest[]): Promise<number[]> => {
    batches.push(inputs.map((r) => r.id));
    const x = tensor('float32', [inputs.length, 4], inputs.flatMap((r) => [r.id, r.id, r.id, r.id]));
    const iters = tensor('int64', [inputs.length, 1], inputs.map((r) => r.iters));
    const { outputs } = await executor.run({ x, iters });
    const y = outputs.y!.data as Float32Array;
    return inputs.map((_, i) => y[i * 4]! - 1);
  };
  return { executor, batches, runBatch };
}
