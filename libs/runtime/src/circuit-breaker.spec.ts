import { describe, expect, it } from 'vitest';
import { CircuitBreaker, invalidArgument, Status, unavailable } from './index.js';

describe('CircuitBreaker', () => {
  const setup = () => {
    let now = 0;
    const breaker = new CircuitBreaker({ name: 'orchestrator', failureThreshold: 3, openMs: 1_000, now: () => now });
    return { breaker, advance: (ms: number) => (now += ms) };
  };
  const down = () => Promise.reject(unavailable('connection refused'));

  it('opens after consecutive failures and then fails fast without calling', async () => {
    const { breaker } = setup();
    for (let i = 0; i < 3; i++) await expect(breaker.call(down)).rejects.toMatchObject({ code: Status.UNAVAILABLE });
    expect(breaker.state).toBe('open');
    let called = false;
    const err = await breaker.call(async () => (called = true)).catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(err).toMatchObject({ code: Status.UNAVAILABLE, message: expect.stringContaining('circuit open') });
    expect((err as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
  });

  it('lets one trial through after the open period; success closes it, failure reopens it', async () => {
    const { breaker, advance } = setup();
    for (let i = 0; i < 3; i++) await breaker.call(down).catch(() => undefined);
    advance(1_000);
    expect(breaker.state).toBe('half-open');
    await breaker.call(down).catch(() => undefined);
    expect(breaker.state).toBe('open');
    advance(1_000);
    expect(await breaker.call(async () => 'ok')).toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('does not count client errors, and a success resets the count', async () => {
    const { breaker } = setup();
    for (let i = 0; i < 5; i++) await breaker.call(() => Promise.reject(invalidArgument('bad'))).catch(() => undefined);
    expect(breaker.state).toBe('closed');
    await breaker.call(down).catch(() => undefined);
    await breaker.call(down).catch(() => undefined);
    await breaker.call(async () => 1);
    await breaker.call(down).catch(() => undefined);
    await breaker.call(down).catch(() => undefined);
    expect(breaker.state).toBe('closed');
  });
});
