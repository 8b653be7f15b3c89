import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, provision, type Bus } from '@aigc/bus';
import { UsageMeter } from '@aigc/metering';
import { BillingServiceClient, KeyChangeKind, Limits, Modality, ReleaseReason, type ApiKeyChanged } from '@aigc/proto';
import { callUnary, createClient, loadConfig, silentLogger, type ServiceHost } from '@aigc/runtime';
import { createHarness, waitFor } from '@aigc/testing';
import { startBilling } from '../src/billing-service.js';
import { billingConfigSpec } from '../src/config.js';
import { KeyChangeWatcher } from '@aigc/accounts';
import { STORES, storeFactory } from './stores.js';

const estimate = (completionTokens: number) => ({ promptTokens: 10, completionTokens, images: 0, steps: 0, pixels: 0, audioSeconds: 0, characters: 0, computeMs: 0 });

describe.each(STORES)('billing service over gRPC and NATS on %s', (kind) => {
  const harness = createHarness();
  const stores = storeFactory(kind);
  let host: ServiceHost;
  let billing: BillingServiceClient;
  let natsUrl: string;
  const buses: Bus[] = [];
  const bus = async (name: string) => {
    const b = await connectBus({ servers: natsUrl, name });
    buses.push(b);
    return b;
  };

  beforeAll(async () => {
    natsUrl = (await harness.nats()).url;
    const serviceBus = await bus('billing');
    await provision(serviceBus);
    const location = await stores.location();
    const env = 'sqlite' in location ? { BILLING_DB: location.sqlite } : { BILLING_DATABASE_URL: location.postgres };
    const config = loadConfig(billingConfigSpec, { ...env, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', NATS_URL: natsUrl, LOG_LEVEL: 'silent' });
    host = (await startBilling(config, { logger: silentLogger, bus: serviceBus, metricsPort: null, httpPort: null })).host;
    billing = createClient(BillingServiceClient, host.address);
  });
  afterAll(async () => {
    billing?.close();
    await host?.shutdown();
    for (const b of buses.slice(1)) await b.drain();
    await stores.close();
    await harness.close();
  });

  it('a revoked key is refused by every gateway replica within a second, and by admission at once', async () => {
    const tenant = await callUnary(billing, 'createTenant', { name: 'acme', limits: undefined });
    const { key, secret } = await callUnary(billing, 'createApiKey', { tenantId: tenant.id, name: 'prod', limits: undefined });
    const heard: ApiKeyChanged[][] = [[], []];
    // Two gateway replicas, each with its own NATS connection.
    const gateways = await Promise.all([0, 1].map(async (i) => new KeyChangeWatcher(await bus(`gateway-${i}`), (c) => heard[i]!.push(c)).start()));
    await callUnary(billing, 'updateApiKey', { id: key!.id, name: '', limits: Limits.fromPartial({ requestsPerMinute: 100 }) });
    await callUnary(billing, 'revokeApiKey', { id: key!.id });
    const revokedAt = Date.now();
    await waitFor(() => gateways.every((g) => g.isRevoked(key!.id)), { timeoutMs: 1000, intervalMs: 5 });
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    for (const h of heard) expect(h.map((c) => [c.keyId, c.kind])).toEqual([[key!.id, KeyChangeKind.KEY_CHANGE_KIND_LIMITS], [key!.id, KeyChangeKind.KEY_CHANGE_KIND_REVOKED]]);
    await expect(callUnary(billing, 'authenticate', { secret })).rejects.toMatchObject({ code: status.UNAUTHENTICATED });
    await expect(callUnary(billing, 'reserve', { apiKeyId: key!.id, requestId: 'r', model: 'm', modality: Modality.MODALITY_TEXT, estimate: estimate(10), ttlMs: 0 })).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
    for (const g of gateways) g.stop();
  });

  it('reserves, settles and releases over gRPC, refusing past a limit with a retry hint', async () => {
    const tenant = await callUnary(billing, 'createTenant', { name: 'limited', limits: Limits.fromPartial({ concurrentRequests: 1 }) });
    const { key } = await callUnary(billing, 'createApiKey', { tenantId: tenant.id, name: 'k', limits: undefined });
    const r = await callUnary(billing, 'reserve', { apiKeyId: key!.id, requestId: 'a', model: 'm', modality: Modality.MODALITY_TEXT, estimate: estimate(100), ttlMs: 0 });
    expect(r.reservedMicros).toBe(Math.ceil(10 * 0.5 + 100 * 1.5)); // the default table
    const refused = await callUnary(billing, 'reserve', { apiKeyId: key!.id, requestId: 'b', model: 'm', modality: Modality.MODALITY_TEXT, estimate: estimate(100), ttlMs: 0 }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: status.RESOURCE_EXHAUSTED, retryAfterMs: 250 });
    expect(await callUnary(billing, 'settle', { reservationId: r.reservationId, usage: estimate(20) })).toEqual({ chargedMicros: 35, unchargedMicros: 0 });
    const again = await callUnary(billing, 'reserve', { apiKeyId: key!.id, requestId: 'c', model: 'm', modality: Modality.MODALITY_TEXT, estimate: estimate(100), ttlMs: 0 });
    await callUnary(billing, 'release', { reservationId: again.reservationId, reason: ReleaseReason.RELEASE_REASON_CANCELLED });
    const st = await callUnary(billing, 'getBudgetStatus', { tenantId: tenant.id, apiKeyId: key!.id });
    expect(st.tenant).toMatchObject({ inFlight: 0, heldMicros: 0, monthSpentMicros: 35 });
    await expect(callUnary(billing, 'getBudgetStatus', { tenantId: 'ten_nope', apiKeyId: '' })).rejects.toMatchObject({ code: status.NOT_FOUND, message: 'tenant ten_nope not found' });
  });

  it('writes usage events from JetStream into the ledger once each, priced', async () => {
    const meter = new UsageMeter(await bus('text'), 'text');
    const event = meter.event({ requestId: 'ledger-req', tenantId: 'ten_x', apiKeyId: 'key_x', reservationId: undefined, model: 'm', modality: Modality.MODALITY_TEXT, usage: { promptTokens: 4, completionTokens: 6, computeMs: 1200 } });
    await meter.publish(event);
    // A republish after the stream's duplicate window would be stored again; the ledger still keeps one.
    await meter.publish({ ...event });
    const entries = await waitFor(async () => {
      const res = await callUnary(billing, 'listUsage', { tenantId: '', requestId: 'ledger-req', limit: 10 });
      return res.entries.length > 0 ? res.entries : undefined;
    }, { timeoutMs: 20_000 });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ eventId: event.eventId, costMicros: Math.ceil(4 * 0.5 + 6 * 1.5), priceVersion: 1, infrastructureMicros: Math.round(1.2 * 833.33 + 2) });
  });

  it('publishes price tables and refuses malformed ones with a clear error', async () => {
    const bad = await callUnary(billing, 'publishPriceTable', { table: { version: 0, effectiveFromMs: 0, currency: 'USD', models: [{ model: 'm', unitMicros: { prompt_token: -3 }, training: undefined }], infrastructure: undefined, operations: undefined, createdAtMs: 0 } }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: status.INVALID_ARGUMENT, message: expect.stringContaining('price of prompt_token must be a finite amount >= 0 (got -3)') });
    const ok = await callUnary(billing, 'publishPriceTable', { table: { version: 0, effectiveFromMs: 0, currency: 'EUR', models: [{ model: '*', unitMicros: { completion_token: 2 }, training: undefined }], infrastructure: undefined, operations: undefined, createdAtMs: 0 } });
    expect(ok).toMatchObject({ version: 2, currency: 'EUR' });
    expect((await callUnary(billing, 'listPriceTables', {})).tables.map((t) => t.version)).toEqual([2, 1]);
  });
});
