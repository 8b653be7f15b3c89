import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForGrpcServing } from './grpc-health.js';

describe('waitForGrpcServing', () => {
  const health = new HealthImplementation({ '': 'NOT_SERVING', 'aigc.v1.Billing': 'NOT_SERVING' });
  const server = new Server();
  let address = '';

  beforeAll(async () => {
    health.addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));

  it('resolves once the server turns SERVING', async () => {
    const started = Date.now();
    setTimeout(() => health.setStatus('', 'SERVING'), 300);
    await waitForGrpcServing(address, { timeoutMs: 5000, intervalMs: 50 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('times out naming the last status while a service stays NOT_SERVING', async () => {
    await expect(
      waitForGrpcServing(address, { service: 'aigc.v1.Billing', timeoutMs: 300, intervalMs: 50 }),
    ).rejects.toThrow(/not SERVING for service 'aigc.v1.Billing' within 300 ms \(last: NOT_SERVING\)/);
  });

  it('keeps polling while nothing listens yet and reports the connection error', async () => {
    await expect(waitForGrpcServing('127.0.0.1:1', { timeoutMs: 300, intervalMs: 50 })).rejects.toThrow(
      /127\.0\.0\.1:1 was not SERVING .*last: 14 /,
    );
  });
});
