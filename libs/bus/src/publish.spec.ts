import { createHarness, waitFor } from '@aigc/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAMS, SUBJECTS, usageSubject } from './catalogue.js';
import { connectBus } from './connect.js';
import type { Bus } from './connect.js';
import { provision } from './provision.js';
import { publishCore, publishEvent, subscribeCore } from './publish.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('publishEvent', () => {
  const h = createHarness();
  let bus: Bus;

  beforeAll(async () => {
    const nats = await h.nats();
    bus = await connectBus({ servers: nats.url, name: 'publish-spec' });
    h.onClose(() => bus.drain());
    await provision(bus);
  });
  afterAll(() => h.close());

  it('stores an event published twice with the same msgId once', async () => {
    const first = await publishEvent(bus, usageSubject('text'), bytes('{"tokens":12}'), { msgId: 'req-1:text' });
    const second = await publishEvent(bus, usageSubject('text'), bytes('{"tokens":12}'), { msgId: 'req-1:text' });
    const other = await publishEvent(bus, usageSubject('text'), bytes('{"tokens":3}'), { msgId: 'req-2:text' });

    expect(first).toEqual({ stream: STREAMS.usage.name, seq: first.seq, duplicate: false });
    expect(second).toEqual({ stream: STREAMS.usage.name, seq: first.seq, duplicate: true });
    expect(other.duplicate).toBe(false);
    expect(other.seq).toBe(first.seq + 1);
    const info = await (await bus.jsm()).streams.info(STREAMS.usage.name);
    expect(info.state.messages).toBe(2);
    const stored = await (await bus.jsm()).streams.getMessage(STREAMS.usage.name, { seq: first.seq });
    expect(stored?.header.get('Nats-Msg-Id')).toBe('req-1:text');
  });

  it('requires a msgId and honours an aborted signal', async () => {
    await expect(publishEvent(bus, usageSubject('text'), bytes('x'), { msgId: '' })).rejects.toThrow(/msgId is required/);
    await expect(
      publishEvent(bus, usageSubject('text'), bytes('x'), { msgId: 'm', signal: AbortSignal.abort() }),
    ).rejects.toThrow(/abort/i);
  });

  it('fails when no stream takes the subject', async () => {
    await expect(
      publishEvent(bus, 'aigc.nowhere.x', bytes('x'), { msgId: 'm', timeoutMs: 500 }),
    ).rejects.toThrow();
  });
});

describe('publishCore and subscribeCore', () => {
  const h = createHarness();
  let bus: Bus;

  beforeAll(async () => {
    const nats = await h.nats();
    bus = await connectBus({ servers: nats.url, name: 'core-spec' });
    h.onClose(() => bus.drain());
  });
  afterAll(() => h.close());

  it('delivers broadcasts with headers to every subscriber and survives a failing handler', async () => {
    const seenA: string[] = [];
    const seenB: string[] = [];
    const subA = subscribeCore(bus, SUBJECTS.keysChanged.name, (msg) => {
      seenA.push(`${msg.string()}:${msg.headers?.get('key-id')}`);
      throw new Error('handler bug');
    });
    const subB = subscribeCore(bus, SUBJECTS.keysChanged.name, (msg) => {
      seenB.push(msg.string());
    });
    await bus.nc.flush();

    publishCore(bus, SUBJECTS.keysChanged.name, bytes('revoked'), { 'key-id': 'k1' });
    publishCore(bus, SUBJECTS.keysChanged.name, bytes('changed'), { 'key-id': 'k2' });

    await waitFor(() => seenA.length === 2 && seenB.length === 2, { message: 'both broadcasts at both subscribers' });
    expect(seenA).toEqual(['revoked:k1', 'changed:k2']);
    expect(seenB).toEqual(['revoked', 'changed']);
    subA.unsubscribe();
    subB.unsubscribe();
  });
});
