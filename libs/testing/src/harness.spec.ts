import { access } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createHarness } from './harness.js';

describe('createHarness', () => {
  it('tears down everything it started in reverse order and collects errors', async () => {
    const h = createHarness();
    const order: string[] = [];
    const nats = await h.nats();
    h.onClose(() => {
      order.push('first');
    });
    const proc = h.process({
      name: 'svc',
      command: process.execPath,
      args: ['-e', 'console.log("listening"); setInterval(() => {}, 1000)'],
    });
    await proc.waitForLine(/listening/);
    h.onClose(() => {
      order.push('last');
      throw new Error('cleanup failed');
    });

    const errors = await h.close();

    expect(order).toEqual(['last', 'first']);
    expect(errors.map((e) => e.message)).toEqual(['cleanup failed']);
    expect(proc.exit?.signal).toBe('SIGTERM');
    expect(nats.process.exit).toBeDefined();
    await expect(access(nats.storeDir)).rejects.toThrow(/ENOENT/);
    expect(await h.close()).toBe(errors); // idempotent
    expect(() => h.onClose(() => undefined)).toThrow(/closed/);
  });
});
