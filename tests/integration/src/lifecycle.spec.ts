import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FinishReason, TextServiceClient } from '@aigc/proto';
import { callServerStream, callUnary, createClient } from '@aigc/runtime';
import { createHarness, freePort, repositoryRoot, spawnProcess, waitForGrpcServing, type NatsServer } from '@aigc/testing';

const root = repositoryRoot();
const entry = (name: string) => join(root, 'services', name, 'dist', 'main.js');
const harness = createHarness();
let nats: NatsServer;

beforeAll(async () => {
  nats = await harness.nats();
});
afterAll(async () => {
  expect(await harness.close()).toEqual([]);
});

describe('service lifecycle', () => {
  it.each([
    ['text', { GRPC_PORT: 'abc' }, 'GRPC_PORT="abc": must be a port number'],
    ['gateway', { ORCHESTRATOR_ADDR: 'no port' }, 'ORCHESTRATOR_ADDR="no port": must be host:port'],
    ['billing', { SHUTDOWN_GRACE_MS: '-5' }, 'SHUTDOWN_GRACE_MS="-5": must be >= 0'],
  ])('%s exits non-zero on a bad config value, naming the variable', async (name, env, message) => {
    const proc = spawnProcess({ name, command: process.execPath, args: [entry(name)], env: { NATS_URL: nats.url, ...env } });
    const exit = await proc.exited;
    expect(exit.code).toBe(2);
    expect(proc.logs()).toContain(message);
  });

  it('finishes an in-flight request on SIGTERM, refuses new ones, then exits 0', async () => {
    const port = await freePort();
    const text = harness.process({
      name: 'text',
      command: process.execPath,
      args: [entry('text')],
      env: { NATS_URL: nats.url, GRPC_PORT: String(port), GRPC_HOST: '127.0.0.1', METRICS_PORT: '0', SHUTDOWN_GRACE_MS: '30000' },
    });
    await waitForGrpcServing(`127.0.0.1:${port}`, { timeoutMs: 30_000 });
    const client = createClient(TextServiceClient, `127.0.0.1:${port}`);
    const request = { model: '', prompt: 'Once ', priority: 0, reservationId: '', sampling: { maxTokens: 1500, temperature: 1, seed: 3, ignoreEos: true, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [] } };

    let text_ = '';
    let finish = FinishReason.FINISH_REASON_UNSPECIFIED;
    let completion = 0;
    let signalled = false;
    for await (const chunk of callServerStream(client, 'generateStream', request)) {
      if (!signalled) {
        expect(text.kill('SIGTERM')).toBe(true);
        signalled = true;
        await text.waitForLine(/"msg":"stopping"/, 5_000);
        // A new call while draining is refused.
        await expect(callUnary(client, 'listModels', {}, { deadline: new Date(Date.now() + 2_000) })).rejects.toMatchObject({
          code: expect.toSatisfy((c: number) => c === status.UNAVAILABLE || c === status.DEADLINE_EXCEEDED),
        });
      }
      text_ += chunk.delta;
      if (chunk.finishReason) finish = chunk.finishReason;
      if (chunk.usage) completion = chunk.usage.completionTokens;
    }
    client.close();
    // The in-flight request ran to its end: fortunes-gpt's 256-token context caps the 1500 asked
    // for at 256 - 5 prompt tokens.
    expect(finish).toBe(FinishReason.FINISH_REASON_LENGTH);
    expect(completion).toBe(251);
    expect(text_.length).toBeGreaterThan(0);
    const exit = await text.exited;
    expect(exit).toMatchObject({ code: 0 });
  });
});
