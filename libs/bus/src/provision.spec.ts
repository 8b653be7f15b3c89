import { nanos } from '@nats-io/nats-core';
import { createHarness } from '@aigc/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE, KV_BUCKETS, STREAMS } from './catalogue.js';
import { connectBus } from './connect.js';
import type { Bus } from './connect.js';
import { consumerConfig, provision, streamConfig } from './provision.js';

describe('provision', () => {
  const h = createHarness();
  let a: Bus;
  let b: Bus;

  beforeAll(async () => {
    const nats = await h.nats();
    a = await connectBus({ servers: nats.url, name: 'provision-a' });
    h.onClose(() => a.drain());
    b = await connectBus({ servers: nats.url, name: 'provision-b' });
    h.onClose(() => b.drain());
  });
  afterAll(() => h.close());

  it('creates everything once when two services provision concurrently', async () => {
    const [ra, rb] = await Promise.all([provision(a), provision(b)]);
    // Whoever lost a race sees the entry as already there; nobody fails.
    for (const report of [ra, rb]) {
      expect(Object.keys(report.streams).sort()).toEqual(CATALOGUE.streams.map((s) => s.name).sort());
      expect(Object.keys(report.kvBuckets).sort()).toEqual(CATALOGUE.kvBuckets.map((s) => s.name).sort());
    }
    const jsm = await a.jsm();
    for (const spec of CATALOGUE.streams) {
      const info = await jsm.streams.info(spec.name);
      expect(info.config).toMatchObject(streamConfig(spec));
    }
    for (const spec of CATALOGUE.consumers) {
      const info = await jsm.consumers.info(spec.stream, spec.name);
      expect(info.config).toMatchObject(consumerConfig(spec));
    }
    const sessions = await jsm.streams.info(`KV_${KV_BUCKETS.sessions.name}`);
    expect(sessions.config.max_age).toBe(nanos(KV_BUCKETS.sessions.ttlMs));
    const runs = await a.kv(KV_BUCKETS.runs.name);
    await runs.put('run-1', new TextEncoder().encode('{"step":1}'));
    expect((await runs.get('run-1'))?.string()).toBe('{"step":1}');
  });

  it('leaves a matching catalogue alone on the next run', async () => {
    const again = await provision(a);
    const actions = [
      ...Object.values(again.streams),
      ...Object.values(again.consumers),
      ...Object.values(again.kvBuckets),
    ];
    expect(new Set(actions)).toEqual(new Set(['unchanged']));
  });

  it('updates a stream, consumer and bucket whose config drifted', async () => {
    const jsm = await a.jsm();
    const usage = await jsm.streams.info(STREAMS.usage.name);
    await jsm.streams.update(STREAMS.usage.name, { ...usage.config, max_age: nanos(3_600_000) });
    await jsm.consumers.update('AIGC_USAGE', 'billing-ledger', { ack_wait: nanos(5_000) });
    const results = await jsm.streams.info(`KV_${KV_BUCKETS.results.name}`);
    await jsm.streams.update(results.config.name, { ...results.config, max_age: nanos(600_000) });

    const report = await provision(b);

    expect(report.streams[STREAMS.usage.name]).toBe('updated');
    expect(report.consumers['billing-ledger']).toBe('updated');
    expect(report.kvBuckets[KV_BUCKETS.results.name]).toBe('updated');
    expect(report.streams[STREAMS.review.name]).toBe('unchanged');
    expect((await jsm.streams.info(STREAMS.usage.name)).config.max_age).toBe(nanos(STREAMS.usage.maxAgeMs));
    expect((await jsm.consumers.info('AIGC_USAGE', 'billing-ledger')).config.ack_wait).toBe(nanos(30_000));
    expect((await jsm.streams.info(results.config.name)).config.max_age).toBe(nanos(KV_BUCKETS.results.ttlMs));
  });

  it('refuses to open a KV bucket that is not in the catalogue', async () => {
    await expect(a.kv('nope' as never)).rejects.toThrow(/not in the catalogue/);
  });
});
