import { describe, expect, it } from 'vitest';
import { CATALOGUE, catalogueMarkdown, CONSUMERS, STREAMS, usageSubject } from './catalogue.js';

describe('catalogue', () => {
  it('builds usage subjects inside the usage stream', () => {
    expect(usageSubject('text')).toBe('aigc.usage.text');
    expect(STREAMS.usage.subjects).toEqual(['aigc.usage.>']);
    expect(() => usageSubject('a.b')).toThrow(/one subject token/);
    expect(() => usageSubject('')).toThrow();
  });

  it('declares each name once and every consumer on a declared stream', () => {
    const names = [
      ...CATALOGUE.streams.map((s) => s.name),
      ...CATALOGUE.consumers.map((c) => `${c.stream}/${c.name}`),
      ...CATALOGUE.subjects.map((s) => s.name),
      ...CATALOGUE.kvBuckets.map((b) => b.name),
    ];
    expect(new Set(names).size).toBe(names.length);
    const streams = new Set(CATALOGUE.streams.map((s) => s.name));
    for (const c of CATALOGUE.consumers) expect(streams.has(c.stream)).toBe(true);
    expect(CONSUMERS.billingLedger.stream).toBe('AIGC_USAGE');
  });

  it('renders one documentation row per entry with producer, consumer and purpose', () => {
    const md = catalogueMarkdown();
    const rows = md.trim().split('\n');
    const entries =
      CATALOGUE.streams.length + CATALOGUE.consumers.length + CATALOGUE.subjects.length + CATALOGUE.kvBuckets.length;
    expect(rows).toHaveLength(2 + entries);
    expect(rows[0]).toBe('| name | kind | producer -> consumer | purpose |');
    expect(md).toContain('| `aigc.usage.>` | JetStream stream `AIGC_USAGE`, kept 7 d, deduplicated by `Nats-Msg-Id` within 2 min | model servers, orchestrator -> billing |');
    expect(md).toContain('| `aigc.keys.changed` | core subject | billing -> all gateways |');
    expect(md).toContain('| `aigc_runs` | KV bucket, no TTL, history 1 | orchestrator -> orchestrator | durable workflow state |');
    expect(md).toContain('work queue');
  });
});
