import { describe, expect, it } from 'vitest';
import { ModelConfigError, parseModelConfig } from './model-config.js';

const base = () => ({
  maxBatchSize: 8,
  inputs: [{ name: 'x', datatype: 'FP32', dims: [4] }],
  outputs: [{ name: 'y', datatype: 'FP32', dims: [4] }],
});

describe('parseModelConfig', () => {
  it('fills defaults: one priority level, bounded queue, one CPU instance', () => {
    const c = parseModelConfig(base(), 'm');
    expect(c).toMatchObject({
      name: 'm',
      platform: 'onnxruntime',
      maxBatchSize: 8,
      batching: { maxQueueDelayMs: 0, priorityLevels: 1, queuePolicies: [{ maxQueueSize: 1024 }], preserveOrdering: false },
      instances: { count: 1, intraOpThreads: 1, interOpThreads: 1 },
      executionProviders: [{ name: 'cpu' }],
    });
  });

  it('keeps a CUDA provider with its device id and per-level queue policies', () => {
    const c = parseModelConfig(
      {
        ...base(),
        executionProviders: [{ name: 'cuda', deviceId: 1 }, { name: 'cpu' }],
        batching: { priorityLevels: 2, queuePolicies: [{ maxQueueSize: 4 }, { maxQueueSize: 64, defaultTimeoutMs: 100 }] },
      },
      'm',
    );
    expect(c.executionProviders).toEqual([{ name: 'cuda', deviceId: 1 }, { name: 'cpu' }]);
    expect(c.batching.queuePolicies).toEqual([{ maxQueueSize: 4 }, { maxQueueSize: 64, defaultTimeoutMs: 100 }]);
  });

  const bad: Array<[string, (c: Record<string, unknown>) => void, string]> = [
    ['name', (c) => (c.name = 'other'), 'name'],
    ['datatype', (c) => ((c.inputs as Array<Record<string, unknown>>)[0]!.datatype = 'FP8'), 'inputs[0].datatype'],
    ['dims', (c) => ((c.inputs as Array<Record<string, unknown>>)[0]!.dims = [0]), 'inputs[0].dims[0]'],
    ['maxBatchSize', (c) => (c.maxBatchSize = -1), 'maxBatchSize'],
    ['queue size', (c) => (c.batching = { priorityLevels: 2, queuePolicies: [{ maxQueueSize: 1 }, { maxQueueSize: -3 }] }), 'batching.queuePolicies[1].maxQueueSize'],
    ['policy count', (c) => (c.batching = { priorityLevels: 3, queuePolicies: [{}, {}] }), 'batching.queuePolicies'],
    ['preferred size', (c) => (c.batching = { preferredBatchSizes: [4, 16] }), 'batching.preferredBatchSizes[1]'],
    ['provider', (c) => (c.executionProviders = [{ name: 'tpu' }]), 'executionProviders[0].name'],
    ['device id', (c) => (c.executionProviders = [{ name: 'cuda', deviceId: -1 }]), 'executionProviders[0].deviceId'],
    ['ragged axis', (c) => ((c.inputs as Array<Record<string, unknown>>)[0]!.ragged = { axis: 0 }), 'inputs[0].ragged.axis'],
    ['duplicate input', (c) => (c.inputs = [...(c.inputs as unknown[]), { name: 'x', datatype: 'FP32', dims: [4] }]), 'inputs[1].name'],
    ['cost input', (c) => (c.batching = { cost: { input: 'nope', axis: 0 } }), 'batching.cost.input'],
    ['adaptive target', (c) => (c.batching = { adaptive: { targetLatencyMs: 0 } }), 'batching.adaptive.targetLatencyMs'],
  ];
  it.each(bad)('names the bad field: %s', (_, mutate, field) => {
    const c = base() as Record<string, unknown>;
    mutate(c);
    let caught: unknown;
    try {
      parseModelConfig(c, 'm');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ModelConfigError);
    expect((caught as ModelConfigError).field).toBe(field);
    expect((caught as Error).message).toContain(field);
  });

  it('accepts ragged inputs with a generated mask, a ragged output and shape buckets', () => {
    const c = parseModelConfig(
      {
        maxBatchSize: 4,
        inputs: [
          { name: 'ids', datatype: 'INT64', dims: [-1], ragged: { axis: 0 } },
          { name: 'mask', datatype: 'INT64', dims: [-1], ragged: { axis: 0 }, maskFor: 'ids' },
        ],
        outputs: [{ name: 'h', datatype: 'FP32', dims: [-1, 8], raggedLike: { input: 'ids', axis: 0 } }],
        batching: { shapeBuckets: { input: 'ids', axis: 0, sizes: [8, 16, 32] } },
      },
      'enc',
    );
    expect(c.inputs[0]!.ragged).toEqual({ axis: 0, padValue: 0 });
    expect(c.batching.shapeBuckets?.sizes).toEqual([8, 16, 32]);
  });
});
