import { describe, expect, it } from 'vitest';
import { GenerateRequest, inference, Priority, UsageEvent, TextServiceService } from './index.js';

describe('generated contracts', () => {
  it('round-trips a usage event through the protobuf wire format', () => {
    const event = UsageEvent.fromPartial({
      eventId: 'evt-1',
      tenantId: 't-1',
      model: 'tiny',
      usage: { promptTokens: 3, completionTokens: 5, computeMs: 1.5 },
      occurredAtMs: 1_764_000_000_000,
    });
    const decoded = UsageEvent.decode(UsageEvent.encode(event).finish());
    expect(decoded).toEqual(event);
  });

  it('keeps proto3 optional fields distinguishable from zero', () => {
    const greedy = GenerateRequest.decode(GenerateRequest.encode({ ...GenerateRequest.fromPartial({}), sampling: { maxTokens: 4, temperature: 0, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [] } }).finish());
    expect(greedy.sampling?.temperature).toBe(0);
    const unset = GenerateRequest.decode(GenerateRequest.encode(GenerateRequest.fromPartial({ sampling: { maxTokens: 4 } })).finish());
    expect(unset.sampling?.temperature).toBeUndefined();
    expect(unset.priority).toBe(Priority.PRIORITY_UNSPECIFIED);
  });

  it('names services by their fully qualified proto paths', () => {
    expect(TextServiceService.generate.path).toBe('/aigc.v1.TextService/Generate');
    expect(inference.GRPCInferenceServiceService.modelInfer.path).toBe('/inference.GRPCInferenceService/ModelInfer');
  });
});
