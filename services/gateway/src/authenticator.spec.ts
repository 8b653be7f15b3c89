import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata, status } from '@grpc/grpc-js';
import { BillingServiceClient, BillingServiceService } from '@aigc/proto';
import { createClient, createLogger, ServiceError, ServiceHost, Status, type CallContext } from '@aigc/runtime';
import { Authenticator } from './authenticator.js';

// A billing server that knows one secret: enough to see what the gateway sends and how it reacts.
const seen: string[] = [];
let host: ServiceHost;
let client: BillingServiceClient;
beforeAll(async () => {
  host = new ServiceHost({ name: 'billing-spec', host: '127.0.0.1', port: 0, logger: createLogger({ level: 'silent' }) });
  const fail = async (): Promise<never> => {
    throw new ServiceError(Status.UNIMPLEMENTED, 'not in this spec');
  };
  host.addService(BillingServiceService, {
    async authenticate({ secret }) {
      seen.push(secret);
      if (secret !== 'sk-good') throw new ServiceError(Status.UNAUTHENTICATED, 'invalid or revoked API key');
      return { key: { id: 'key_1', tenantId: 'ten_1', name: '', prefix: '', limits: undefined, revoked: false, createdAtMs: 0 }, tenant: { id: 'ten_1', name: 'acme', limits: undefined, createdAtMs: 0 } };
    },
    reserve: fail, settle: fail, release: fail, createTenant: fail, createApiKey: fail, revokeApiKey: fail, listUsage: fail,
  });
  await host.start();
  client = createClient(BillingServiceClient, host.address);
});
afterAll(async () => {
  client.close();
  await host.shutdown();
});

const ctx = (headers: Record<string, string>): CallContext => {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  return { method: 'x', signal: new AbortController().signal, deadline: undefined, metadata, requestId: 'r', tenantId: 'spoofed', apiKeyId: undefined, reservationId: undefined, logger: createLogger({ level: 'silent' }) };
};

describe('Authenticator', () => {
  it('resolves a bearer key to the tenant billing knows, ignoring a tenant in client metadata', async () => {
    const caller = await new Authenticator(client).authenticate(ctx({ authorization: 'Bearer sk-good', 'x-aigc-tenant': 'spoofed' }));
    expect(caller).toEqual({ tenantId: 'ten_1', apiKeyId: 'key_1' });
  });

  it('refuses missing or malformed credentials without asking billing', async () => {
    const before = seen.length;
    for (const headers of [{}, { authorization: 'sk-good' }, { authorization: 'Basic abc' }]) {
      await expect(new Authenticator(client).authenticate(ctx(headers))).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    }
    expect(seen.length).toBe(before);
  });

  it('passes billing refusals on as UNAUTHENTICATED', async () => {
    await expect(new Authenticator(client).authenticate(ctx({ authorization: 'Bearer sk-bad' }))).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
  });
});
