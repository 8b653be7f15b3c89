import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { BillingServiceClient, BillingServiceService } from '@aigc/proto';
import { createClient, createLogger, ServiceError, ServiceHost, Status, unimplementedHandlers } from '@aigc/runtime';
import { Authenticator } from './authenticator.js';

// A billing server that knows one secret: enough to see what the gateway sends and how it reacts.
const seen: string[] = [];
let host: ServiceHost;
let client: BillingServiceClient;
beforeAll(async () => {
  host = new ServiceHost({ name: 'billing-spec', host: '127.0.0.1', port: 0, logger: createLogger({ level: 'silent' }) });
  host.addService(BillingServiceService, {
    ...unimplementedHandlers(BillingServiceService, 'not in this spec'),
    async authenticate({ secret }) {
      seen.push(secret);
      if (secret !== 'sk-good') throw new ServiceError(Status.UNAUTHENTICATED, 'invalid or revoked API key');
      return { key: { id: 'key_1', tenantId: 'ten_1', name: '', prefix: '', limits: undefined, revoked: false, createdAtMs: 0 }, tenant: { id: 'ten_1', name: 'acme', limits: undefined, createdAtMs: 0 } };
    },
  });
  await host.start();
  client = createClient(BillingServiceClient, host.address);
});
afterAll(async () => {
  client.close();
  await host.shutdown();
});

describe('Authenticator', () => {
  it('resolves a bearer key to the tenant billing knows', async () => {
    const caller = await new Authenticator(client).authenticate('Bearer sk-good');
    expect(caller).toEqual({ tenantId: 'ten_1', apiKeyId: 'key_1', requestsPerMinute: 0, tokensPerMinute: 0 });
  });

  it('refuses missing or malformed credentials without asking billing', async () => {
    const before = seen.length;
    for (const header of [undefined, '', 'sk-good', 'Basic abc']) {
      await expect(new Authenticator(client).authenticate(header)).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    }
    expect(seen.length).toBe(before);
  });

  it('passes billing refusals on as UNAUTHENTICATED', async () => {
    await expect(new Authenticator(client).authenticate('Bearer sk-bad')).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });
});
