import { createHarness, waitFor } from '@aigc/testing';
import type { NatsServer } from '@aigc/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMERS, STREAMS, usageSubject } from './catalogue.js';
import { connectBus } from './connect.js';
import type { Bus } from './connect.js';
import { consumeDurable } from './consume.js';
import type { BusLogger } from './logger.js';
import { provision } from './provision.js';
import { publishEvent } from './publish.js';

describe('reconnect', () => {
  const h = createHarness();
  const events: string[] = [];
  const logger: BusLogger = {
    debug: () => undefined,
    info: (msg) => events.push(msg),
    warn: (msg) => events.push(msg),
    error: (msg) => events.push(msg),
  };
  let nats: NatsServer;
  let bus: Bus;

  beforeAll(async () => {
    nats = await h.nats();
    bus = await connectBus({ servers: nats.url, name: 'reconnect-spec', logger, reconnectTimeWaitMs: 100 });
    h.onClose(() => bus.drain());
    await provision(bus);
  });
  afterAll(() => h.close());

  it('publishes and consumes again after nats-server restarts on the same port and store', async () => {
    const seen: string[] = [];
    const stop = new AbortController();
    const consuming = consumeDurable(bus, {
      stream: STREAMS.usage.name,
      consumer: CONSUMERS.billingLedger.name,
      signal: stop.signal,
      handler: async (msg) => {
        seen.push(msg.string());
      },
    });
    const body = (text: string) => new TextEncoder().encode(text);
    await publishEvent(bus, usageSubject('audio'), body('before'), { msgId: 'before' });
    await waitFor(() => seen.includes('before'), { message: 'event before restart consumed' });

    await nats.restart();

    // The first publishes may land while the client is still reconnecting; the caller's retry is the contract.
    const after = await waitFor(
      () => publishEvent(bus, usageSubject('audio'), body('after'), { msgId: 'after', timeoutMs: 1000 }),
      { timeoutMs: 15_000, intervalMs: 100, message: 'a publish to succeed after restart' },
    );
    expect(after.duplicate).toBe(false);
    await waitFor(() => events.includes('nats reconnected'), { message: 'reconnect logged' });
    expect(events).toContain('nats disconnected');

    // The stream survived on disk: the earlier event is still there, and the new one follows it.
    const info = await (await bus.jsm()).streams.info(STREAMS.usage.name);
    expect(info.state.messages).toBe(2);
    expect(after.seq).toBe(2);

    await waitFor(() => seen.includes('after'), { timeoutMs: 15_000, message: 'event after restart consumed' });
    stop.abort();
    await consuming;
    // Delivery is at least once: an ack in flight when the server stopped is lost, and the message
    // comes again (handlers are idempotent, as the ledger is). Nothing is lost, nothing is new.
    expect([...new Set(seen)]).toEqual(['before', 'after']);
  });
});
