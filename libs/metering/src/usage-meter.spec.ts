import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, CONSUMERS, provision, STREAMS, type Bus } from '@aigc/bus';
import { Modality } from '@aigc/proto';
import { createHarness } from '@aigc/testing';
import { decodeUsageEvent, UsageMeter } from './index.js';

const harness = createHarness();
let bus: Bus;
beforeAll(async () => {
  const nats = await harness.nats();
  bus = await connectBus({ servers: nats.url, name: 'metering-spec' });
  await provision(bus);
});
afterAll(async () => {
  await bus.drain();
  await harness.close();
});

describe('UsageMeter', () => {
  it('publishes an event on its modality subject once, however often it is retried', async () => {
    const meter = new UsageMeter(bus, 'text');
    const event = meter.event({
      requestId: 'r-1',
      tenantId: 't-1',
      apiKeyId: 'k-1',
      reservationId: undefined,
      model: 'm',
      modality: Modality.MODALITY_TEXT,
      usage: { promptTokens: 2, completionTokens: 3, computeMs: 1.25 },
    });
    expect(await meter.publish(event)).toEqual({ duplicate: false });
    expect(await meter.publish(event)).toEqual({ duplicate: true });

    const jsm = await bus.jsm();
    const info = await jsm.streams.info(STREAMS.usage.name, { subjects_filter: '>' });
    expect(info.state.subjects).toEqual({ 'aigc.usage.text': 1 });
    const consumer = await bus.js.consumers.get(STREAMS.usage.name, CONSUMERS.billingLedger.name);
    const msg = await consumer.next({ expires: 2_000 });
    expect(msg).not.toBeNull();
    const decoded = decodeUsageEvent(msg!.data);
    expect(decoded).toMatchObject({ eventId: event.eventId, service: 'text', tenantId: 't-1', usage: { promptTokens: 2, completionTokens: 3 } });
    expect(msg!.headers?.get('Nats-Msg-Id')).toBe(event.eventId);
    msg!.ack();
  });
});
