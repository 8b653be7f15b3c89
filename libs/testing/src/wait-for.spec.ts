import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.js';

describe('waitFor', () => {
  it('polls until the predicate returns a truthy value and resolves with it', async () => {
    let calls = 0;
    const value = await waitFor(async () => (++calls >= 3 ? `ready after ${calls}` : false), { intervalMs: 5 });
    expect(value).toBe('ready after 3');
  });

  it('treats a throw as not yet', async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        if (++calls < 2) throw new Error('boom');
        return 42;
      },
      { intervalMs: 5 },
    );
    expect(value).toBe(42);
  });

  it('throws with the message and the last error on timeout', async () => {
    const started = Date.now();
    const err = await waitFor(
      () => {
        throw new Error('still broken');
      },
      { timeoutMs: 100, intervalMs: 10, message: 'the thing' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/waiting for the thing: last error: still broken/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });
});
