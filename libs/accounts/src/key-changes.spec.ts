import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, type Bus } from '@aigc/bus';
import { KeyChangeKind, type ApiKeyChanged } from '@aigc/proto';
import { createHarness, waitFor } from '@aigc/testing';
import { KeyChangeWatcher, publishKeyChange } from './index.js';

const harness = createHarness();
const buses: Bus[] = [];
beforeAll(async () => {
  const nats = await harness.nats();
  for (const name of ['billing', 'gateway-a', 'gateway-b']) buses.push(await connectBus({ servers: nats.url, name }));
});
afterAll(async () => {
  for (const bus of buses) await bus.drain();
  await harness.close();
});

describe('key change broadcast', () => {
  it('reaches every watcher, which remembers revocations and calls back for every change', async () => {
    const [billing, a, b] = buses as [Bus, Bus, Bus];
    const heard: ApiKeyChanged[] = [];
    const watchers = await Promise.all([new KeyChangeWatcher(a, (c) => heard.push(c)).start(), new KeyChangeWatcher(b).start()]);
    publishKeyChange(billing, { keyId: 'key_1', tenantId: 'ten_1', kind: KeyChangeKind.KEY_CHANGE_KIND_LIMITS });
    publishKeyChange(billing, { keyId: 'key_2', tenantId: 'ten_1', revoked: true, kind: KeyChangeKind.KEY_CHANGE_KIND_REVOKED });
    await waitFor(() => watchers.every((w) => w.isRevoked('key_2')), { timeoutMs: 1_000, message: 'revocation not heard within 1 s' });
    expect(watchers.some((w) => w.isRevoked('key_1'))).toBe(false);
    await waitFor(() => heard.length === 2, { timeoutMs: 1_000 });
    expect(heard.map((c) => c.kind)).toEqual([KeyChangeKind.KEY_CHANGE_KIND_LIMITS, KeyChangeKind.KEY_CHANGE_KIND_REVOKED]);
    for (const w of watchers) w.stop();
  });
});
