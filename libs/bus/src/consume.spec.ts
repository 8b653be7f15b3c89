import type { JsMsg } from '@nats-io/jetstream';
import { createHarness, waitFor } from '@aigc/testing';
import type { Harness } from '@aigc/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONSUMERS, STREAMS, usageSubject } from './catalogue.js';
import { connectBus } from './connect.js';
import type { Bus } from './connect.js';
import { consumeDurable } from './consume.js';
import { provision } from './provision.js';
import { publishEvent } from './publish.js';
import type { BusLogger } from './logger.js';

const ledger = { stream: STREAMS.usage.name, consumer: CONSUMERS.billingLedger.name };

function recordingLogger(): BusLogger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (msg, fields) => warnings.push(`${msg} ${JSON.stringify(fields)}`),
    error: (msg) => warnings.push(msg),
  };
}

describe('consumeDurable', () => {
  let h: Harness;
  let bus: Bus;

  beforeEach(async () => {
    h = createHarness();
    const nats = await h.nats();
    bus = await connectBus({ servers: nats.url, name: 'consume-spec' });
    h.onClose(() => bus.drain());
    await provision(bus);
  });
  afterEach(() => h.close());

  async function publishUsage(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await publishEvent(bus, usageSubject('text'), new TextEncoder().encode(`event-${i}`), { msgId: `event-${i}` });
    }
  }

  it('handles every message once and acknowledges it', async () => {
    await publishUsage(20);
    const seen: string[] = [];
    const stop = new AbortController();
    const done = consumeDurable(bus, {
      ...ledger,
      signal: stop.signal,
      batch: 5,
      handler: async (msg) => {
        seen.push(msg.string());
      },
    });
    await waitFor(() => seen.length >= 20, { message: '20 usage events handled' });
    // Wait for the acks to land, then make sure nothing is redelivered.
    const jsm = await bus.jsm();
    await waitFor(async () => (await jsm.consumers.info(ledger.stream, ledger.consumer)).num_ack_pending === 0, {
      message: 'no pending acks',
    });
    stop.abort();
    await done;
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `event-${i}`));
    const info = await jsm.consumers.info(ledger.stream, ledger.consumer);
    expect(info.num_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(20);
  });

  it('redelivers a message whose handler threw, and acks it once handled', async () => {
    await publishUsage(3);
    const logger = recordingLogger();
    const attempts = new Map<string, number[]>();
    const stop = new AbortController();
    const done = consumeDurable(bus, {
      ...ledger,
      signal: stop.signal,
      logger,
      nakDelayMs: 200,
      handler: async (msg: JsMsg, ctx) => {
        const key = msg.string();
        attempts.set(key, [...(attempts.get(key) ?? []), ctx.deliveryCount]);
        if (key === 'event-1' && ctx.deliveryCount === 1) throw new Error('ledger busy');
      },
    });
    await waitFor(() => attempts.get('event-1')?.length === 2, { message: 'event-1 redelivered' });
    const jsm = await bus.jsm();
    await waitFor(async () => (await jsm.consumers.info(ledger.stream, ledger.consumer)).ack_floor.stream_seq === 3, {
      message: 'all three acknowledged',
    });
    stop.abort();
    await done;

    expect(attempts.get('event-0')).toEqual([1]);
    expect(attempts.get('event-1')).toEqual([1, 2]);
    expect(attempts.get('event-2')).toEqual([1]);
    expect(logger.warnings.join('\n')).toMatch(/redelivered.*"seq":2.*ledger busy/);
  });

  it('stops when the signal aborts and leaves unhandled messages for the next consumer', async () => {
    const stop = new AbortController();
    const seen: string[] = [];
    const done = consumeDurable(bus, {
      ...ledger,
      signal: stop.signal,
      handler: async (msg) => {
        seen.push(msg.string());
      },
    });
    await publishUsage(1);
    await waitFor(() => seen.length === 1, { message: 'first event handled' });
    stop.abort();
    await done;

    await publishUsage(3); // event-0 is a duplicate; event-1 and event-2 are new
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual(['event-0']);

    const again = new AbortController();
    const later = consumeDurable(bus, {
      ...ledger,
      signal: again.signal,
      handler: async (msg) => {
        seen.push(msg.string());
      },
    });
    await waitFor(() => seen.length === 3, { message: 'remaining events handled after restart' });
    again.abort();
    await later;
    expect(seen).toEqual(['event-0', 'event-1', 'event-2']);
  });
});
